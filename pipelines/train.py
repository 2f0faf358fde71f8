"""train: fit datacheck's model (models.py, the one label_noise cross-validates) on the cleaned
manifest's train split; predict every split.

Writes ``models/predictions.csv`` (path,split,label,prediction) for the evaluate stage.
Images are read through datacheck's scan (the same decoded 32x32 thumbnails the audit uses,
from the same cache), so training costs no second decode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from params import CACHE, load_params  # noqa: E402

from datacheck import ScanOptions, load_dataset  # noqa: E402
from datacheck.features.scan import readable_thumbs  # noqa: E402
from datacheck.learning.models import fit_predict  # noqa: E402


def main() -> None:
    params, every = load_params("train")
    data = every.get("prepare", {}).get("out", "data")
    manifest = Path(every.get("clean", {}).get("out", "clean"), "manifest.csv")
    table, thumbs = readable_thumbs(load_dataset(manifest, root=data),
                                    ScanOptions(cache_dir=CACHE))
    labels = table["label"].astype(str).to_numpy()
    fit = np.flatnonzero((table["split"] == "train").to_numpy())
    classes, probs = fit_predict(thumbs, labels, fit, model=params.get("model", "cnn"),
                                 epochs=params.get("epochs"), seed=int(every.get("seed", 0)),
                                 device=params.get("device", "auto"), progress=False)
    predicted = classes[probs.argmax(axis=1)]
    out = Path(params.get("out", "models"))
    out.mkdir(parents=True, exist_ok=True)
    table.assign(prediction=predicted)[["path", "split", "label", "prediction"]].to_csv(
        out / "predictions.csv", index=False)
    print(f"train: fitted on {len(fit)} images; train accuracy "
          f"{(predicted[fit] == labels[fit]).mean():.3f}")


if __name__ == "__main__":
    main()
