"""prepare: build the bundled real-image dataset (planted problems included) into data/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from params import load_params  # noqa: E402

from datacheck.demo import build_demo  # noqa: E402


def main() -> None:
    params, every = load_params("prepare")
    out = Path(params.get("out", "data"))
    planted = build_demo(out, seed=int(every.get("seed", 0)))
    print(f"prepare: wrote {out} ({sum(len(v) for v in planted.values())} planted problems)")
    print(json.dumps(planted, indent=2))


if __name__ == "__main__":
    main()
