"""datacheck.report.diff: two real audits of a dataset before and after a change."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil

import pytest

from datacheck import audit
from datacheck.errors import BadInputError
from datacheck.report.diff import SCHEMA, diff_reports, has_new
from datacheck.report.diff_markdown import render_diff_markdown
from tests.helpers import save

CHECKS = ["integrity", "duplicates", "leakage", "balance"]
HOSTILE = "<img src=x onerror=alert(1)>|@octocat [x](y) `z`.jpg"


def run(root, tmp_path) -> dict:
    return audit(root, checks=CHECKS, cache_dir=tmp_path / "cache", progress=False).to_dict()


def plant_copy(root, src: str, dst: str) -> None:
    (root / dst).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / src, root / dst)


def nothing_new(diff: dict) -> bool:
    return not any(has_new(diff, k) for k in ("leakage", "duplicates", "label_noise"))


def test_planted_train_to_test_copy_is_exactly_one_new_leak(clean_dataset, tmp_path):
    base = run(clean_dataset, tmp_path)
    plant_copy(clean_dataset, "train/a/img000.jpg", "test/a/copy.jpg")
    head = run(clean_dataset, tmp_path)
    diff = diff_reports(base, head)

    assert diff["schema"] == SCHEMA
    leak = diff["leakage"]
    assert leak["compared"] and leak["identity"] == "digest"  # findings carry digests
    assert len(leak["added"]) == 1 and leak["removed"] == []
    row = leak["added"][0]
    assert (row["a"], row["split_a"], row["b"], row["split_b"]) == (
        "train/a/img000.jpg", "train", "test/a/copy.jpg", "test")
    assert has_new(diff, "leakage") and has_new(diff, "new-leakage")
    assert not has_new(diff, "duplicates") and not has_new(diff, "label_noise")
    assert diff["duplicates"] == {"compared": True, "identity": "digest", "added": [],
                                  "removed": [], "changed": []}
    assert diff["checks"]["leakage"] == {"base_status": "pass", "head_status": "fail"}
    assert diff["class_counts"] == [
        {"split": "test", "label": "a", "base": 4, "head": 5, "change": 1}]
    assert diff["split_counts"] == [{"split": "test", "base": 12, "head": 13, "change": 1}]
    assert diff["base"]["images"] == 48 and diff["head"]["images"] == 49

    text = render_diff_markdown(diff)
    assert text.startswith(  # the checks in report order
        "## datacheck diff: ❌ 0 new duplicate clusters, 0 removed · 1 new leak, 0 removed")
    assert "### Leakage: 1 new" in text
    assert "copy\\.jpg" in text  # escaped file name in the table
    assert "| leakage | ✅ pass | ❌ fail ⬅️ changed |" in text


def test_identical_reports_give_no_changes(clean_dataset, tmp_path):
    plant_copy(clean_dataset, "train/b/img008.jpg", "test/b/copy.jpg")
    plant_copy(clean_dataset, "val/c/img032.jpg", "val/c/dup.jpg")
    first = run(clean_dataset, tmp_path)
    second = run(clean_dataset, tmp_path)  # an unchanged dataset audited again
    for diff in (diff_reports(first, first), diff_reports(first, second)):
        for key in ("leakage", "duplicates", "label_noise"):
            assert diff[key]["added"] == [] and diff[key]["removed"] == []
        assert diff["duplicates"]["changed"] == []
        assert diff["class_counts"] == [] and diff["split_counts"] == []
        assert diff["settings"] == {}
        assert all(c["base_status"] == c["head_status"] for c in diff["checks"].values())
        assert nothing_new(diff)
        assert render_diff_markdown(diff).startswith(
            "## datacheck diff: ✅ 0 new duplicate clusters, 0 removed · 0 new leaks, 0 removed")
    assert first["checks"]["leakage"]["findings"]  # there was something to match


def test_removed_leak_is_reported_as_removed(clean_dataset, tmp_path):
    plant_copy(clean_dataset, "train/a/img000.jpg", "test/a/copy.jpg")
    plant_copy(clean_dataset, "train/c/img020.jpg", "val/c/copy.jpg")
    leaky = run(clean_dataset, tmp_path)
    (clean_dataset / "test/a/copy.jpg").unlink()
    fixed = run(clean_dataset, tmp_path)
    diff = diff_reports(leaky, fixed)
    assert diff["leakage"]["added"] == []
    assert [(r["a"], r["b"]) for r in diff["leakage"]["removed"]] == [
        ("train/a/img000.jpg", "test/a/copy.jpg")]
    assert not has_new(diff, "leakage")
    assert diff["checks"]["leakage"] == {"base_status": "fail", "head_status": "fail"}
    text = render_diff_markdown(diff)
    assert "0 new leaks, 1 removed" in text
    assert "<details><summary>1 removed leak</summary>" in text


def test_class_count_changes_are_listed_per_split(clean_dataset, tmp_path, patches):
    base = run(clean_dataset, tmp_path)
    for k in range(3):
        save(patches[50 + k], clean_dataset / "train" / "b" / f"new{k}.jpg")
    (clean_dataset / "val/c/img032.jpg").unlink()
    (clean_dataset / "val/c/img033.jpg").unlink()
    save(patches[55], clean_dataset / "test" / "d" / "first.jpg")
    diff = diff_reports(base, run(clean_dataset, tmp_path))
    rows = {(r["split"], r["label"]): (r["base"], r["head"], r["change"])
            for r in diff["class_counts"]}
    assert rows == {("train", "b"): (8, 11, 3), ("val", "c"): (4, 2, -2),
                    ("test", "d"): (0, 1, 1)}
    assert nothing_new(diff)
    text = render_diff_markdown(diff)
    assert "### Images per class: 3 changed" in text
    assert "| train | b | 8 | 11 | +3 |" in text and "| val | c | 4 | 2 | -2 |" in text


def test_duplicate_clusters_added_grown_and_removed(clean_dataset, tmp_path):
    plant_copy(clean_dataset, "train/a/img001.jpg", "train/a/dup1.jpg")
    base = run(clean_dataset, tmp_path)
    plant_copy(clean_dataset, "train/a/img001.jpg", "train/a/dup2.jpg")  # joins the cluster
    plant_copy(clean_dataset, "val/b/img030.jpg", "val/b/dup.jpg")  # a new cluster
    head = run(clean_dataset, tmp_path)
    diff = diff_reports(base, head)["duplicates"]
    assert [sorted(r["paths"]) for r in diff["added"]] == [["val/b/dup.jpg", "val/b/img030.jpg"]]
    assert diff["removed"] == []
    assert [(c["joined"], c["left"]) for c in diff["changed"]] == [(["train/a/dup2.jpg"], [])]
    (clean_dataset / "val/b/dup.jpg").unlink()
    back = diff_reports(head, run(clean_dataset, tmp_path))
    assert [sorted(r["paths"]) for r in back["duplicates"]["removed"]] == [
        ["val/b/dup.jpg", "val/b/img030.jpg"]]
    assert not has_new(back, "duplicates")
    assert has_new(diff_reports(base, head), "duplicates")


def test_renames_are_new_by_path_but_not_by_digest(clean_dataset, tmp_path):
    plant_copy(clean_dataset, "train/a/img000.jpg", "test/a/copy.jpg")
    before = run(clean_dataset, tmp_path)
    (clean_dataset / "test/a/copy.jpg").rename(clean_dataset / "test/a/renamed.jpg")
    after = run(clean_dataset, tmp_path)
    audited = diff_reports(before, after)["leakage"]  # audits write digests: no change
    assert audited["identity"] == "digest"
    assert audited["added"] == [] and audited["removed"] == []

    def without_digests(report: dict) -> dict:  # a report from before findings had digests
        report = copy.deepcopy(report)
        for row in report["checks"]["leakage"]["findings"]:
            row.pop("digest_a", None)
            row.pop("digest_b", None)
        return report

    before, after = without_digests(before), without_digests(after)
    by_path = diff_reports(before, after)["leakage"]
    assert by_path["identity"] == "path"
    assert (len(by_path["added"]), len(by_path["removed"])) == (1, 1)

    def with_digests(report: dict) -> dict:
        report = copy.deepcopy(report)
        for row in report["checks"]["leakage"]["findings"]:
            for side in ("a", "b"):
                name = clean_dataset / row[side]
                data = name.read_bytes() if name.exists() else b"gone"
                row[f"digest_{side}"] = hashlib.sha256(data).hexdigest()
        return report

    # the digest of the deleted name equals the surviving copy's: same bytes
    before_d = with_digests(before)
    before_d["checks"]["leakage"]["findings"][0]["digest_b"] = hashlib.sha256(
        (clean_dataset / "test/a/renamed.jpg").read_bytes()).hexdigest()
    by_digest = diff_reports(before_d, with_digests(after))["leakage"]
    assert by_digest["identity"] == "digest"
    assert by_digest["added"] == [] and by_digest["removed"] == []


def test_markdown_escapes_hostile_names(clean_dataset, tmp_path, patches):
    base = run(clean_dataset, tmp_path)
    plant_copy(clean_dataset, "train/a/img000.jpg", f"test/a/{HOSTILE}")
    label = "<b onclick=x>@team"
    save(patches[56], clean_dataset / "test" / label / "x.jpg")
    diff = diff_reports(base, run(clean_dataset, tmp_path))
    assert diff["leakage"]["added"][0]["b"] == f"test/a/{HOSTILE}"
    text = render_diff_markdown(diff)
    assert "<img" not in text and "<b " not in text and "@octocat" not in text
    assert "@team" not in text and "](" not in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    for line in text.splitlines():
        if line.startswith("| exact") or line.startswith("| near"):
            assert len(re.split(r"(?<!\\)\|", line)) == 9, line  # 8 columns
        if "b onclick" in line:
            assert len(re.split(r"(?<!\\)\|", line)) == 7, line


def test_long_lists_fold_into_details(clean_dataset, tmp_path):
    base = run(clean_dataset, tmp_path)
    for k in range(12):
        label = "abc"[k // 8]
        plant_copy(clean_dataset, f"train/{label}/img{k:03d}.jpg", f"test/{label}/c{k}.jpg")
    diff = diff_reports(base, run(clean_dataset, tmp_path))
    assert len(diff["leakage"]["added"]) == 12
    text = render_diff_markdown(diff)
    assert "12 new leaks, 0 removed" in text
    assert "<details><summary>2 more</summary>" in text


def test_label_issues_are_matched_by_image_and_given_label():
    def report(rows):
        return {"schema": "datacheck.audit/1", "status": "warn",
                "dataset": {"root": "d", "images": 3, "splits": {"train": 3}, "classes": 2},
                "settings": {}, "checks": {"label_noise": {
                    "status": "warn" if rows else "pass", "summary": "", "metrics": {},
                    "findings": rows}}}

    cat = {"path": "train/cat/1.jpg", "split": "train", "given": "cat", "suggested": "dog",
           "score": 0.9}
    other_suggestion = dict(cat, suggested="fox", score=0.7)
    relabelled = dict(cat, given="dog", suggested="cat")
    conflict = {"kind": "label_conflict", "paths": ["train/cat/2.jpg", "train/dog/2.jpg"],
                "labels": ["cat", "dog"]}
    same = diff_reports(report([cat, conflict]), report([other_suggestion, conflict]))
    assert same["label_noise"]["added"] == [] and same["label_noise"]["removed"] == []
    moved = diff_reports(report([cat]), report([relabelled, conflict]))
    assert moved["label_noise"]["added"] == [relabelled, conflict]
    assert moved["label_noise"]["removed"] == [cat]
    assert has_new(moved, "label_noise") and has_new(moved, "new-label-noise")
    text = render_diff_markdown(moved)
    assert "1 new label issue" not in text and "2 new label issues, 1 removed" in text


def test_checks_in_one_report_only_are_not_compared(clean_dataset, tmp_path):
    plant_copy(clean_dataset, "train/a/img000.jpg", "test/a/copy.jpg")
    head = run(clean_dataset, tmp_path)
    base = copy.deepcopy(head)
    del base["checks"]["leakage"]
    base["settings"]["threshold"] = 6
    diff = diff_reports(base, head)
    assert diff["leakage"] == {"compared": False, "identity": None, "added": [], "removed": [],
                               "reason": "not in the base report"}
    assert not has_new(diff, "leakage")
    assert diff["checks"]["leakage"] == {"base_status": None, "head_status": "fail"}
    assert diff["settings"] == {"threshold": {"base": 6, "head": 10}}
    text = render_diff_markdown(diff)
    assert "### Leakage: not compared (not in the base report)" in text
    assert "Settings differ" in text


def test_bad_input():
    with pytest.raises(BadInputError, match="datacheck.audit/1"):
        diff_reports({"schema": "other"}, {"schema": "datacheck.audit/1"})
    with pytest.raises(ValueError, match="unknown kind"):
        has_new({}, "balance")


def test_a_leak_whose_images_swap_splits_is_the_same_leak():
    def report(a, b, da, db):
        return {"schema": "datacheck.audit/1", "checks": {"leakage": {"status": "fail",
                "findings": [{"kind": "near", "a": a, "split_a": "train", "b": b,
                              "split_b": "test", "digest_a": da, "digest_b": db}]}}}
    leak = diff_reports(report("train/x.jpg", "test/y.jpg", "d-x", "d-y"),
                        report("train/y.jpg", "test/x.jpg", "d-y", "d-x"))["leakage"]
    assert leak["identity"] == "digest" and leak["added"] == leak["removed"] == []
