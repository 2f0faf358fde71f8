import pandas as pd
import pytest

from datacheck import BadInputError, load_dataset
from tests.helpers import save


def test_split_class_tree(clean_dataset):
    ds = load_dataset(clean_dataset)
    assert ds.splits == {"train": 24, "val": 12, "test": 12}
    assert list(ds.table.columns) == ["path", "split", "label", "group", "bytes"]
    assert set(ds.table["label"]) == {"a", "b", "c"}
    first = ds.table.iloc[0]
    assert first["path"].startswith("train/a/") and first["bytes"] > 0


def test_class_tree_without_splits(tmp_path, patches):
    for k, label in enumerate(["x", "x", "y"]):
        save(patches[k], tmp_path / label / f"{k}.png")
    ds = load_dataset(tmp_path)
    assert ds.splits == {"all": 3}
    assert sorted(ds.table["label"]) == ["x", "x", "y"]


def test_hidden_files_and_cache_folder_are_ignored(clean_dataset):
    (clean_dataset / ".datacheck").mkdir()
    (clean_dataset / ".datacheck" / "cache.sqlite").write_bytes(b"x")
    (clean_dataset / "train" / "a" / ".DS_Store").write_bytes(b"x")
    assert len(load_dataset(clean_dataset).table) == 48


def test_aliases_and_user_mapping(tmp_path, patches):
    save(patches[0], tmp_path / "validation" / "a" / "0.jpg")
    save(patches[1], tmp_path / "holdout" / "a" / "1.jpg")
    with pytest.raises(BadInputError, match="unknown split folder 'holdout'.*--split holdout="):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, split_map={"holdout": "test-val"})
    assert ds.splits == {"val": 1, "test-val": 1}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manifest(tmp_path, patches, suffix):
    for k in range(4):
        save(patches[k], tmp_path / "imgs" / f"{k}.jpg")
    frame = pd.DataFrame({"path": [f"imgs/{k}.jpg" for k in range(4)],
                          "label": ["cat", "dog", "cat", "dog"],
                          "split": ["train", "train", "validation", "test"],
                          "group": ["p1", "p2", "p1", "p3"]})
    manifest = tmp_path / f"manifest{suffix}"
    frame.to_csv(manifest, index=False) if suffix == ".csv" else frame.to_parquet(manifest)
    ds = load_dataset(manifest)
    assert ds.root == tmp_path.resolve()
    assert ds.splits == {"train": 2, "val": 1, "test": 1}
    assert set(ds.table["group"]) == {"p1", "p2", "p3"}


@pytest.mark.parametrize("content, message", [
    ("file,label\na.jpg,x\n", "lacks column 'path'"),
    ("path,label\n", "no rows"),
    ("path,label,split\na.jpg,x,holdout\n", "unknown split 'holdout'"),
    ("path,label\n../outside.jpg,x\n", "outside the dataset root"),
])
def test_bad_manifests(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(BadInputError, match=message):
        load_dataset(manifest)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(BadInputError, match="no such file or folder"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(BadInputError, match="no class or split folders"):
        load_dataset(tmp_path)
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(BadInputError, match="no images found"):
        load_dataset(tmp_path)


def test_manifest_with_explicit_root(tmp_path, patches):
    save(patches[0], tmp_path / "data" / "train" / "a" / "0.jpg")
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "m.csv"
    manifest.write_text("path,label,split\ntrain/a/0.jpg,a,train\n")
    ds = load_dataset(manifest, root=tmp_path / "data")
    assert ds.root == (tmp_path / "data").resolve() and ds.table["bytes"].iloc[0] > 0
    with pytest.raises(BadInputError, match="manifests only"):
        load_dataset(tmp_path / "data", root=tmp_path)


def test_manifest_empty_group_cells_are_no_group(tmp_path, patches):
    for i in range(3):
        save(patches[i], tmp_path / f"{i}.jpg")
    (tmp_path / "m.csv").write_text("path,label,split,group\n0.jpg,a,train,\n1.jpg,a,test,\n"
                                    "2.jpg,b,test,person7\n")
    table = load_dataset(tmp_path / "m.csv").table.set_index("path")
    assert table.loc[["0.jpg", "1.jpg"], "group"].isna().all()
    assert table.loc["2.jpg", "group"] == "person7"
