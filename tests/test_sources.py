"""Datasets as they ship: a zip archive, Parquet shards in the Hugging Face layout, Arrow files as
``datasets.save_to_disk`` writes them, and WebDataset tar shards give the same findings, by
content digest, as the same image files in a folder tree; bad rows are integrity findings."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from datacheck import audit
from datacheck.cli import cli
from tests.helpers import plant_copies, save

CHECKS = ["integrity", "duplicates", "leakage", "balance"]
CLASSES = ["a", "b", "c"]
HF_FEATURES = {"image": {"_type": "Image"},
               "label": {"names": CLASSES, "_type": "ClassLabel"}}


@pytest.fixture(scope="module")
def tree(tmp_path_factory, patches) -> Path:
    """train/val/test x a/b/c, leaks planted into test, a duplicate inside train, one file
    that is not an image: 67 files, so decoding runs on the process pool."""
    root = tmp_path_factory.mktemp("tree") / "data"
    k = 0
    for split, per_class in {"train": 8, "val": 3, "test": 3}.items():
        for label in CLASSES:
            for _ in range(per_class):
                save(patches[k], root / split / label / f"img{k:03d}.jpg")
                k += 1
    for n in range(15):  # 67 images in all: enough for the process pool (64)
        save(patches[k + n], root / "train" / CLASSES[n % 3] / f"more{n:02d}.jpg")
    train = sorted((root / "train").rglob("img*.jpg"))
    plant_copies(root, train[:8])
    (root / "train" / "a" / "dup.jpg").write_bytes(train[10].read_bytes())
    (root / "val" / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def files_of(tree: Path) -> list[tuple[str, str, str, bytes]]:
    """(relative path, split, label, bytes) of every file, in path order."""
    return [(p.relative_to(tree).as_posix(), p.parts[-3], p.parts[-2], p.read_bytes())
            for p in sorted(tree.rglob("*")) if p.is_file()]


def by_digest(report) -> dict:
    """A report's findings named by content, not by path: what must not depend on the format."""
    digest = report.digests
    leaks = report.checks["leakage"].findings
    dups = report.checks["duplicates"].findings
    integrity = report.checks["integrity"].findings
    return {
        "leaks": {frozenset((digest[a], digest[b], kind))
                  for a, b, kind in zip(leaks["a"], leaks["b"], leaks["kind"])},
        "duplicates": {frozenset(digest[p] for p in paths) for paths in dups["paths"]},
        "integrity": sorted(integrity["kind"]),
        "splits": report.dataset["splits"],
        "balance": report.checks["balance"].metrics,
        "images": report.dataset["images"],
    }


def write_zip(tree: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for rel, _, _, data in files_of(tree):
            zf.writestr(f"mydata/{rel}", data)  # one wrapping folder, as zip -r makes
    return target


def image_table(rows) -> pa.Table:
    image = pa.array([{"bytes": data, "path": rel.rsplit("/", 1)[-1]} for rel, _, _, data in rows],
                     type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    labels = pa.array([CLASSES.index(label) for _, _, label, _ in rows], type=pa.int64())
    meta = {b"huggingface": json.dumps({"info": {"features": HF_FEATURES}}).encode()}
    return pa.table({"image": image, "label": labels}).replace_schema_metadata(meta)


def write_parquet(tree: Path, target: Path) -> Path:
    """``data/{split}-0000N-of-00002.parquet``, small row groups, as the Hub's converter does."""
    rows = files_of(tree)
    for split in ("train", "val", "test"):
        mine = [r for r in rows if r[1] == split]
        name = {"val": "validation"}.get(split, split)
        for n, part in enumerate((mine[: len(mine) // 2], mine[len(mine) // 2:])):
            path = target / "data" / f"{name}-{n:05d}-of-00002.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(image_table(part), path, row_group_size=5)
    return target


def write_arrow(tree: Path, target: Path) -> Path:
    """``save_to_disk`` layout: SPLIT/data-00000-of-00001.arrow (IPC stream) and
    SPLIT/dataset_info.json with the ClassLabel names."""
    rows = files_of(tree)
    for split in ("train", "val", "test"):
        folder = target / split
        folder.mkdir(parents=True)
        table = image_table([r for r in rows if r[1] == split]).replace_schema_metadata({})
        with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, \
                pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=4)
        (folder / "dataset_info.json").write_text(json.dumps({"features": HF_FEATURES}))
    return target


def write_tars(tree: Path, target: Path) -> Path:
    """WebDataset shards SPLIT-000.tar: KEY.jpg + KEY.cls (train) or KEY.json (val, test)."""
    target.mkdir(parents=True)
    rows = files_of(tree)
    for split in ("train", "val", "test"):
        with tarfile.open(target / f"{split}-000.tar", "w") as tar:
            for i, (rel, _, label, data) in enumerate(r for r in rows if r[1] == split):
                key = f"{split}{i:05d}"
                label_file = (f"{key}.cls", label.encode()) if split == "train" else \
                    (f"{key}.json", json.dumps({"label": label}).encode())
                for name, blob in ((f"{key}.{rel.rsplit('.', 1)[-1]}", data), label_file):
                    info = tarfile.TarInfo(name)
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
    return target


@pytest.fixture(scope="module")
def expected(tree, tmp_path_factory):
    report = audit(tree, checks=CHECKS, cache_dir=tmp_path_factory.mktemp("c"), progress=False)
    assert len(report.checks["leakage"].findings) == 8  # the plants, nothing else
    assert len(report.checks["duplicates"].findings) == 1
    return by_digest(report)


@pytest.mark.parametrize("pack", [write_zip, write_parquet, write_arrow, write_tars])
def test_packed_formats_give_the_folder_trees_findings(pack, tree, expected, tmp_path):
    name = "data.zip" if pack is write_zip else "packed"
    packed = pack(tree, tmp_path / name)
    first = audit(packed, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert by_digest(first) == expected
    again = audit(packed, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
    assert again.stats["decoded"] == 0 and by_digest(again) == expected
    html = first.to_html()
    assert html.count("<img") >= 16  # thumbnails read back out of the archive or shards


def test_shards_decoded_on_a_dask_cluster(tree, expected, tmp_path):
    distributed = pytest.importorskip("distributed")
    shards = write_parquet(tree, tmp_path / "pq")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  local_directory=tmp_path / "dask-workers") as cluster:
        report = audit(shards, checks=CHECKS, cache_dir=tmp_path / "c", progress=False,
                       scheduler=cluster.scheduler_address)
    assert report.stats["decoded"] == 67 and by_digest(report) == expected


def test_shard_references_name_rows_and_members(tree, tmp_path):
    parquet = write_parquet(tree, tmp_path / "pq")
    report = audit(parquet, checks=["integrity"], cache_dir=tmp_path / "c1", progress=False)
    bad = report.checks["integrity"].findings
    assert bad["path"].str.fullmatch(r"data/validation-0000[01]-of-00002\.parquet#row=\d+").all()
    assert len(bad) == 1 and bad["kind"].tolist() == ["unreadable"]
    tars = write_tars(tree, tmp_path / "wds")
    report = audit(tars, checks=["integrity"], cache_dir=tmp_path / "c2", progress=False)
    ref = report.checks["integrity"].findings["path"].iat[0]
    shard, member = ref.split("#")
    with tarfile.open(tars / shard) as tar:  # the reference opens the member it names
        assert tar.extractfile(member).read() == b"\xff\xd8 not really a jpeg"


def test_one_shard_and_split_patterns(tree, tmp_path):
    tars = write_tars(tree, tmp_path / "wds")
    (tars / "train-000.tar").rename(tars / "shard-a.tar")
    (tars / "test-000.tar").rename(tars / "shard-b.tar")
    (tars / "val-000.tar").unlink()
    report = audit(tars, checks=["leakage"], split_map={"train": "shard-a*",
                                                        "test": "*-b.tar"},
                   cache_dir=tmp_path / "c", progress=False)
    assert report.dataset["splits"] == {"train": 40, "test": 17}
    assert len(report.checks["leakage"].findings) == 8
    single = audit(tars / "shard-a.tar", checks=["integrity"], cache_dir=tmp_path / "c",
                   progress=False)
    assert single.dataset["images"] == 40 and single.stats["decoded"] == 0


def test_unknown_shard_layout_is_one_line_exit_2(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), folder / "train-00000.parquet")
    result = CliRunner().invoke(cli, ["audit", str(folder), "--checks", "integrity"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "no image column" in line and "--image-column" in line and "\n" not in line
    (tmp_path / "bad.zip").write_bytes(b"PK not a zip")
    result = CliRunner().invoke(cli, ["audit", str(tmp_path / "bad.zip")])
    assert result.exit_code == 2 and "not a readable zip archive" in result.output


def hf_dataset_dict(tree: Path):
    """A real ``datasets.DatasetDict`` (Image + ClassLabel features) of the tree's files."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=CLASSES)})
    rows = files_of(tree)
    return datasets.DatasetDict({
        {"val": "validation"}.get(split, split): datasets.Dataset.from_dict(
            {"image": [{"bytes": data, "path": rel} for rel, s, _, data in rows if s == split],
             "label": [CLASSES.index(lab) for _, s, lab, _ in rows if s == split]},
            features=features)
        for split in ("train", "val", "test")})


def test_hugging_face_parquet_arrow_and_in_memory(tree, expected, tmp_path):
    """What ``datasets`` itself writes (to_parquet, save_to_disk) and the DatasetDict object."""
    dd = hf_dataset_dict(tree)
    for split, ds in dd.items():
        ds.to_parquet(str(tmp_path / "hub" / "data" / f"{split}-00000-of-00001.parquet"))
    dd.save_to_disk(str(tmp_path / "saved"))
    for target in (tmp_path / "hub", tmp_path / "saved", dd):
        report = audit(target, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False)
        assert by_digest(report) == expected, target


def test_torch_dataset_in_memory(tree, tmp_path):
    """A map-style torch Dataset of (PIL image, class index) per split: the same leaks, named
    by split and item index."""
    torch_data = pytest.importorskip("torch.utils.data")
    from PIL import Image

    class Files(torch_data.Dataset):
        classes = CLASSES

        def __init__(self, paths):
            self.paths = paths

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            path = self.paths[i]
            return Image.open(path).convert("RGB"), CLASSES.index(path.parent.name)

    folder = audit(tree, checks=["leakage"], cache_dir=tmp_path / "c0", progress=False)
    want = set(zip(folder.checks["leakage"].findings["a"], folder.checks["leakage"].findings["b"]))
    readable = [p for p in sorted(tree.rglob("*.*")) if p.name != "broken.jpg"]
    by_split = {s: [p for p in readable if p.parts[-3] == s] for s in ("train", "val", "test")}
    report = audit({s: Files(ps) for s, ps in by_split.items()}, checks=["leakage", "balance"],
                   cache_dir=tmp_path / "c1", progress=False)

    def original(ref: str) -> str:
        split = ref.split("/", 1)[0]
        return by_split[split][int(ref.rsplit("=", 1)[1])].relative_to(tree).as_posix()

    leaks = report.checks["leakage"].findings
    assert {(original(a), original(b)) for a, b in zip(leaks["a"], leaks["b"])} == want
    assert report.dataset["splits"] == {"train": 40, "val": 9, "test": 17}
    assert report.dataset["classes"] == 3


def test_shards_behind_a_url(tree, expected, tmp_path):
    """Parquet and tar shards in fsspec's memory filesystem: listed, read and cached through
    fsspec, the same findings."""
    import uuid

    import fsspec

    fs = fsspec.filesystem("memory")
    name = f"/dc-{uuid.uuid4().hex[:8]}"
    try:
        for kind, pack in (("pq", write_parquet), ("wds", write_tars)):
            local = pack(tree, tmp_path / kind)
            for f in sorted(p for p in local.rglob("*") if p.is_file()):
                fs.pipe_file(f"{name}/{kind}/{f.relative_to(local).as_posix()}", f.read_bytes())
            report = audit(f"memory://{name}/{kind}", checks=CHECKS,
                           cache_dir=tmp_path / f"c-{kind}", progress=False)
            assert by_digest(report) == expected, kind
    finally:
        fs.rm(name, recursive=True)
