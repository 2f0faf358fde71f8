"""End to end on real files: planted problems are found, and nothing else is."""

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datacheck import audit
from tests.helpers import EDITS, NO_MODEL, plant_copies, save


def test_planted_leaks_found_with_full_precision_and_recall(clean_dataset, tmp_path):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    expected = plant_copies(clean_dataset, train[: len(EDITS)])
    report = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "cache", progress=False)
    leaks = report.checks["leakage"].findings
    found = set(zip(leaks["a"], leaks["b"]))
    assert found == expected, (found - expected, expected - found)
    assert report.checks["leakage"].status == "fail"
    assert set(leaks["split_a"]) == {"train"} and set(leaks["split_b"]) == {"test"}
    assert leaks.loc[leaks["b"].str.contains("bytecopy"), "kind"].tolist() == ["exact"]
    assert (leaks.loc[~leaks["b"].str.contains("bytecopy"), "kind"] == "near").all()
    assert report.checks["duplicates"].status == "pass"


def test_clean_dataset_passes(clean_dataset, tmp_path):
    report = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "cache", progress=False)
    assert {n: c.status for n, c in report.checks.items()} == {
        "integrity": "pass", "duplicates": "pass", "leakage": "pass", "balance": "warn",
        "shift": "pass"}
    # 4 images per class in val and test are below the default minimum of 10
    assert set(report.checks["balance"].findings["kind"]) == {"minority"}


def test_duplicates_within_split_and_label_conflicts(clean_dataset, tmp_path):
    a = clean_dataset / "train" / "a"
    first = sorted(a.glob("*.jpg"))[0]
    shutil.copyfile(first, a / "copy1.jpg")
    shutil.copyfile(first, a / "copy2.jpg")
    img = Image.open(sorted(a.glob("*.jpg"))[3])
    save(img, clean_dataset / "train" / "b" / "relabelled.jpg", quality=60)
    report = audit(clean_dataset, checks=["duplicates", "leakage"], cache_dir=tmp_path / "c",
                   progress=False)
    assert report.checks["leakage"].status == "pass"  # every copy here is inside train
    dup = report.checks["duplicates"]
    assert dup.status == "fail"
    assert dup.metrics["exact_clusters"] == 1 and dup.metrics["near_clusters"] == 1
    assert dup.metrics["label_conflicts"] == 1 and dup.metrics["redundant_images"] == 3
    conflict = dup.findings[dup.findings["label_conflict"]].iloc[0]
    assert sorted(conflict["labels"]) == ["a", "b"]
    exact = dup.findings[dup.findings["kind"] == "exact"].iloc[0]
    assert sorted(exact["paths"]) == sorted(
        f"train/a/{n}" for n in (first.name, "copy1.jpg", "copy2.jpg"))


def test_near_copies_with_disagreeing_labels_fail(clean_dataset, tmp_path):
    a = clean_dataset / "train" / "a"
    save(Image.open(sorted(a.glob("*.jpg"))[3]), clean_dataset / "train/b/relabelled.jpg",
         quality=60)
    dup = audit(clean_dataset, checks=["duplicates"], cache_dir=tmp_path / "c",
                progress=False).checks["duplicates"]
    assert dup.metrics["exact_clusters"] == 0 and dup.metrics["label_conflicts"] == 1
    assert dup.status == "fail"


def test_group_leakage_from_manifest(tmp_path, patches):
    rows = []
    for k in range(6):
        save(patches[k], tmp_path / f"{k}.jpg")
        rows.append({"path": f"{k}.jpg", "label": "x" if k % 2 else "y",
                     "split": "train" if k < 4 else "test", "group": f"person{k % 3}"})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    report = audit(tmp_path / "m.csv", checks=["leakage"], cache_dir=tmp_path / "c",
                   progress=False)
    leaks = report.checks["leakage"].findings
    assert set(leaks["kind"]) == {"group"}
    # person0: 0.jpg (train), 3.jpg (train); person1: 1.jpg, 4.jpg (test); person2: 2, 5 (test)
    assert sorted(leaks["group"]) == ["person1", "person2"]
    assert report.checks["leakage"].metrics["group_leaks"] == 2


def test_balance_missing_class_and_imbalance(tmp_path, patches):
    counts = {("train", "a"): 30, ("train", "b"): 2, ("test", "a"): 5}
    k = 0
    for (split, label), n in counts.items():
        for _ in range(n):
            save(patches[k % len(patches)].rotate(k), tmp_path / split / label / f"{k}.png")
            k += 1
    result = audit(tmp_path, checks=["balance"], cache_dir=tmp_path / ".c",
                   progress=False).checks["balance"]
    assert result.status == "fail"
    kinds = {(r.kind, r.split, r.label) for r in result.findings.itertuples()}
    assert ("missing", "test", "b") in kinds
    assert ("imbalance", "train", "b") in kinds
    assert ("minority", "train", "b") in kinds
    assert result.metrics["imbalance_train"] == 15.0
    assert result.details["counts"]["test"] == {"a": 5, "b": 0}


def test_integrity_findings_and_run_goes_on(clean_dataset, tmp_path):
    a = clean_dataset / "train" / "a"
    originals = sorted(a.glob("*.jpg"))
    good = originals[0].read_bytes()
    (a / "empty.jpg").write_bytes(b"")
    (a / "half.jpg").write_bytes(good[: len(good) // 2])
    (a / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(a / "tiny.png")
    Image.open(originals[1]).convert("L").rotate(90).save(a / "gray.png")
    report = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False)
    problems = dict(zip(report.checks["integrity"].findings["path"],
                        report.checks["integrity"].findings["problem"]))
    assert problems["train/a/empty.jpg"].startswith("empty file")
    assert problems["train/a/half.jpg"].startswith("truncated or corrupt")
    assert problems["train/a/notes.txt"].startswith("not an image")
    assert problems["train/a/tiny.png"].startswith("tiny image (8x8)")
    assert problems["train/a/gray.png"].startswith("colour mode L")
    assert report.checks["integrity"].status == "fail"
    assert report.dataset["images"] == 53


def test_cache_second_run_decodes_nothing_and_new_files_only(clean_dataset, tmp_path, patches):
    cache = tmp_path / "cache"
    first = audit(clean_dataset, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert first.stats["decoded"] == 48
    second = audit(clean_dataset, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert second.stats["decoded"] == 0
    assert second.to_dict() == first.to_dict()
    for k in range(3):
        save(patches[50 + k], clean_dataset / "test" / "a" / f"new{k}.jpg")
    third = audit(clean_dataset, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert third.stats["decoded"] == 3 and third.dataset["images"] == 51


def test_default_cache_lives_in_dataset_and_is_not_indexed(clean_dataset):
    audit(clean_dataset, checks=NO_MODEL, progress=False)
    assert (clean_dataset / ".datacheck" / "cache.sqlite").exists()
    assert audit(clean_dataset, checks=NO_MODEL, progress=False).stats["decoded"] == 0


def test_corrupt_cache_is_rebuilt(clean_dataset, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    report = audit(clean_dataset, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert report.stats["decoded"] == 48
    assert (cache / "cache.corrupt").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_and_serial_agree(clean_dataset, tmp_path, workers):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    plant_copies(clean_dataset, train[:3])
    report = audit(clean_dataset, checks=NO_MODEL, workers=workers,
                   cache_dir=tmp_path / f"c{workers}", progress=False)
    assert report.checks["leakage"].metrics["pairs"] == 3


def test_cache_with_an_old_layout_is_emptied(clean_dataset, tmp_path):
    import sqlite3

    cache = tmp_path / "cache"
    cache.mkdir()
    db = sqlite3.connect(cache / "cache.sqlite")
    db.executescript("CREATE TABLE features (config TEXT, digest TEXT, hash INTEGER);"
                     "CREATE TABLE files (path TEXT PRIMARY KEY, size, mtime_ns, digest);")
    db.close()
    for expected in (48, 0):
        report = audit(clean_dataset, checks=NO_MODEL, cache_dir=cache, progress=False)
        assert report.stats["decoded"] == expected


@pytest.mark.parametrize("counts", [
    [[30, 10], [12, 40]], [[5, 5], [5, 5]], [[8, 3, 20], [1, 9, 7], [4, 4, 4]],
    [[100, 90], [3, 17], [0, 1]],
])
def test_chi2_pvalue_matches_scipy(counts):
    from scipy.stats import chi2_contingency

    from datacheck.checks.balance import chi2_independence_pvalue

    expected = chi2_contingency(np.array(counts))[1]
    assert chi2_independence_pvalue(np.array(counts)) == pytest.approx(expected, rel=1e-9)
