"""The same images as a folder tree, as Parquet shards (Hugging Face layout) and as WebDataset
tar shards: first audit and re-audit seconds, peak memory, and whether the findings agree.

The images are benchmarks/e2e.py's dataset (640x480 JPEGs with planted leaks and duplicates,
made once into benchmarks/_data/e2e<N>/). They are packed once into
benchmarks/_data/formats<N>/: ``parquet/data/{train,test}-0000K-of-0000M.parquet`` (1,000
images a shard, 100-row row groups, an ``image`` struct {bytes, path} and a ClassLabel
``label``, as the Hub's converter writes them) and ``wds/{train,test}-00000K.tar`` (KEY.jpg +
KEY.cls). Each run is a fresh ``datacheck audit`` process (integrity, duplicates, leakage,
balance; reports written), with an empty cache, then again on the unchanged data.

    .venv/bin/python benchmarks/formats.py --count 100000
    .venv/bin/python benchmarks/formats.py --count 20000
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import tarfile
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _common import DATA, footer, header, table
from e2e import audit_cmd, make_dataset, measured, recall

PER_SHARD = 1000
ROW_GROUP = 100


def files_by_split(root: Path) -> dict[str, list[Path]]:
    return {s: sorted((root / s).glob("*/*.jpg")) for s in ("train", "test")}


def classes_of(root: Path) -> list[str]:
    return sorted({p.name for p in root.glob("*/*") if p.is_dir()})


def pack_parquet(root: Path, target: Path) -> None:
    classes = classes_of(root)
    meta = {b"huggingface": json.dumps({"info": {"features": {
        "image": {"_type": "Image"}, "label": {"names": classes, "_type": "ClassLabel"}}}}
    ).encode()}
    kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for split, files in files_by_split(root).items():
        shards = [files[i:i + PER_SHARD] for i in range(0, len(files), PER_SHARD)]
        for n, part in enumerate(shards):
            images = pa.array([{"bytes": f.read_bytes(), "path": f.name} for f in part], kind)
            labels = pa.array([classes.index(f.parent.name) for f in part], pa.int64())
            out = target / "data" / f"{split}-{n:05d}-of-{len(shards):05d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"image": images, "label": labels})
                           .replace_schema_metadata(meta), out, row_group_size=ROW_GROUP)


def pack_tars(root: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for split, files in files_by_split(root).items():
        for n in range(0, len(files), PER_SHARD):
            with tarfile.open(target / f"{split}-{n // PER_SHARD:06d}.tar", "w") as tar:
                for f in files[n:n + PER_SHARD]:
                    key = f.stem  # unique: train000123 / test000045
                    for name, blob in ((f"{key}.jpg", f.read_bytes()),
                                       (f"{key}.cls", f.parent.name.encode())):
                        info = tarfile.TarInfo(name)
                        info.size = len(blob)
                        tar.addfile(info, io.BytesIO(blob))


def packed(count: int) -> tuple[Path, dict, Path, Path]:
    root, planted = make_dataset(count)
    where = DATA / f"formats{count}"
    parquet, wds = where / "parquet", where / "wds"
    if not (where / "done").exists():
        print(f"packing {root.name} into {where.name}/parquet and {where.name}/wds ...")
        pack_parquet(root, parquet)
        pack_tars(root, wds)
        (where / "done").touch()
    for shard in [*parquet.rglob("*.parquet"), *wds.glob("*.tar")]:
        shard.read_bytes()  # every run reads from the page cache
    return root, planted, parquet, wds


def digest_findings(out: Path) -> tuple[set, set]:
    """Leak pairs and duplicate clusters of a run, named by content digests."""
    report = json.loads((out / "report.json").read_text())
    images = pd.read_parquet(out / "images.parquet")
    digest = dict(zip(images["path"], images["digest"]))
    leaks = {frozenset((digest[f["a"]], digest[f["b"]]))
             for f in report["checks"]["leakage"]["findings"]}
    dups = {frozenset(digest[p] for p in f["paths"])
            for f in report["checks"]["duplicates"]["findings"]}
    return leaks, dups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="images (default 100,000)")
    args = parser.parse_args()
    header("dataset formats")
    root, planted, parquet, wds = packed(args.count)
    rows, agree, base = [], [], {}
    with tempfile.TemporaryDirectory(prefix="dc-formats-") as tmp:
        tmp = Path(tmp)
        for name, target in (("folder tree", root), ("Parquet shards", parquet),
                             ("WebDataset shards", wds)):
            for run in ("first audit", "re-audit"):
                out = tmp / f"{name}-{run}".replace(" ", "_")
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seconds, mib, _ = measured(audit_cmd(target, out, tmp / f"cache-{name}"))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
                base.setdefault(run, (seconds, cpu))
                rows.append([name, run, f"{seconds:.1f}", f"{seconds / base[run][0]:.2f}x",
                             f"{cpu:.1f}", f"{cpu / base[run][1]:.2f}x", f"{mib:,.0f}"])
            found = digest_findings(out)
            base.setdefault("findings", found)
            report = json.loads((out / "report.json").read_text())
            planted_found = recall(report, planted) if name == "folder tree" else ("", "", 0, 0)
            agree.append([name, len(found[0]), len(found[1]),
                          "same" if found == base["findings"] else "DIFFERENT",
                          planted_found[0]])
    table(["data", "run", "seconds", "vs folder tree", "CPU seconds", "CPU vs folder tree",
           "peak MiB (PSS)"], rows)
    print("CPU seconds: user + system of the audit process and its workers (the machine may be "
          "shared: compare CPU when the load is high)")
    table(["data", "leak pairs", "duplicate clusters", "findings by digest vs folder tree",
           "planted leaks found"], agree)
    footer()


if __name__ == "__main__":
    main()
