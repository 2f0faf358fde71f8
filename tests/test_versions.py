"""history.versions: images.parquet beside every report, and what a change did to the data,
from real audits of real image files."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from datacheck import audit
from datacheck.cli import cli
from datacheck.features.images import content_digest
from datacheck.history.versions import (
    COLUMNS,
    diff_images,
    has_change,
    image_table,
)
from datacheck.report.data_diff import render_data_markdown
from datacheck.report.diff import diff_reports
from datacheck.report.diff_markdown import render_diff_markdown
from tests.helpers import save

CHECKS = ["integrity", "duplicates", "leakage", "balance"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write(root, out, cache):
    report = audit(root, checks=CHECKS, cache_dir=cache, progress=False)
    report.write(out)
    return out / "report.json"


def test_images_parquet_and_digests_in_findings(clean_dataset, tmp_path):
    shutil.copyfile(clean_dataset / "train/a/img000.jpg", clean_dataset / "test/a/leak.jpg")
    shutil.copyfile(clean_dataset / "val/b/img028.jpg", clean_dataset / "val/b/dup.jpg")
    (clean_dataset / "train/c/broken.jpg").write_bytes(b"not an image")
    result = run("audit", clean_dataset, "--checks", ",".join(CHECKS), "--out",
                 tmp_path / "out", "--cache", tmp_path / "c", "--no-progress")
    assert result.exit_code == 1 or result.exit_code == 0
    images = pd.read_parquet(tmp_path / "out/images.parquet")
    assert list(images.columns) == COLUMNS and len(images) == 48 + 3
    row = images.set_index("path").loc["test/a/leak.jpg"]
    assert row["digest"] == content_digest((clean_dataset / "test/a/leak.jpg").read_bytes())
    assert (row["split"], row["label"], row["bytes"]) == (
        "test", "a", (clean_dataset / "test/a/leak.jpg").stat().st_size)
    assert images.set_index("path").loc["train/c/broken.jpg", "problem"]
    report = json.loads((tmp_path / "out/report.json").read_text())
    leak = report["checks"]["leakage"]["findings"][0]
    assert leak["digest_a"] == leak["digest_b"] == row["digest"]
    dup = report["checks"]["duplicates"]["findings"][0]
    assert len(dup["digests"]) == len(dup["paths"]) == 2 and len(set(dup["digests"])) == 1


def test_data_diff_from_two_report_folders(clean_dataset, tmp_path, patches):
    cache = tmp_path / "c"
    shutil.copyfile(clean_dataset / "train/a/img000.jpg", clean_dataset / "train/a/twin.jpg")
    base = write(clean_dataset, tmp_path / "base", cache)
    d = clean_dataset
    (d / "train/a/img001.jpg").rename(d / "train/a/renamed.jpg")          # renamed
    (d / "train/b/img008.jpg").rename(d / "train/c/img008.jpg")           # relabelled
    (d / "train/c/img016.jpg").rename(d / "test/c/img016.jpg")            # train -> test
    (d / "test/a/img036.jpg").rename(d / "train/a/img036.jpg")            # test -> train
    (d / "val/a/img024.jpg").unlink()                                     # removed
    save(patches[50], d / "val/b/new.jpg")                                # added
    save(patches[51], d / "train/a/img002.jpg", quality=70)               # modified
    (d / "train/a/twin.jpg").rename(d / "train/a/twin2.jpg")  # one of two equal files
    head = write(clean_dataset, tmp_path / "head", cache)

    result = run("diff", base, head, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    moves = {(r["base_path"], r["path"]) for r in data["renamed"]}
    assert moves == {("train/a/img001.jpg", "train/a/renamed.jpg"),
                     ("train/a/twin.jpg", "train/a/twin2.jpg")}
    assert [(r["path"], r["base_label"], r["label"]) for r in data["relabelled"]] == [
        ("train/c/img008.jpg", "b", "c")]
    assert [(r["path"], r["base_split"], r["leak_risk"]) for r in data["split_moved"]] == [
        ("train/a/img036.jpg", "test", False), ("test/c/img016.jpg", "train", True)]
    assert [r["path"] for r in data["removed"]] == ["val/a/img024.jpg"]
    assert [r["path"] for r in data["added"]] == ["val/b/new.jpg"]
    assert [r["path"] for r in data["modified"]] == ["train/a/img002.jpg"]
    assert data["summary"]["leak_risk"] == 1 and data["summary"]["unchanged"] == 49 - 7
    counts = {(r["split"], r["label"]): r["change"] for r in data["counts"]}
    assert counts == {("train", "a"): 1, ("train", "b"): -1, ("val", "a"): -1, ("val", "b"): 1,
                      ("test", "a"): -1, ("test", "c"): 1}  # train/c: one in, one out
    text = run("diff", base, head).stdout
    assert "data: 1 added, 1 removed, 1 modified, 2 renamed, 1 relabelled, 2 moved between " \
           "splits, 1 into a later split (leak risk)" in text
    assert "| c | test/c/img016\\.jpg | train | test | ⚠️ yes |" in text
    assert run("diff", base, head, "--fail-on", "leak-risk").exit_code == 1
    assert run("diff", base, head, "--fail-on", "removed").exit_code == 1


def test_same_path_label_and_group_changes_from_a_manifest(tmp_path, patches):
    for k in range(4):
        save(patches[k], tmp_path / "img" / f"{k}.jpg")
    rows = [f"img/{k}.jpg,{'xy'[k % 2]},{'train' if k < 3 else 'test'},p{k}" for k in range(4)]
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split,group\n" + "\n".join(rows) + "\n")
    base = audit(manifest, checks=["integrity"], cache_dir=tmp_path / "c", progress=False)
    rows[0] = "img/0.jpg,y,train,p0"      # relabelled in place
    rows[1] = "img/1.jpg,y,test,p1"       # train -> test in place
    rows[2] = "img/2.jpg,x,train,p9"      # regrouped
    manifest.write_text("path,label,split,group\n" + "\n".join(rows) + "\n")
    head = audit(manifest, checks=["integrity"], cache_dir=tmp_path / "c", progress=False)
    data = diff_images(base.images, head.images)
    assert [(r["path"], r["base_label"], r["label"]) for r in data["relabelled"]] == [
        ("img/0.jpg", "x", "y")]
    assert [(r["path"], r["leak_risk"]) for r in data["split_moved"]] == [("img/1.jpg", True)]
    assert [(r["path"], r["base_group"], r["group"]) for r in data["regrouped"]] == [
        ("img/2.jpg", "p2", "p9")]
    assert data["renamed"] == [] and data["summary"]["unchanged"] == 1
    assert has_change(data, "relabel") and has_change(data, "split-move")
    assert not has_change(data, "modified")


def test_long_tables_fold_and_the_comment_fits_64kb(tmp_path):
    n = 5000

    def table(prefix: str, label: str) -> pd.DataFrame:
        return image_table(pd.DataFrame({
            "path": [f"train/{label}/{prefix}{k:05d}_" + "x" * 60 + ".jpg" for k in range(n)],
            "digest": [f"{k:032x}" for k in range(n)], "split": "train", "label": label,
            "group": None, "bytes": 1000, "problem": None}))

    data = diff_images(table("a", "cat"), table("b", "dog"))  # every image renamed+relabelled
    assert data["summary"]["relabelled"] == n and data["summary"]["renamed"] == 0
    lines = render_data_markdown(data)
    text = "\n".join(lines)
    assert len(text) <= 60_000 and "<details><summary>" in text
    assert "in the JSON diff (`--format json`)" in text
    report = {"schema": "datacheck.audit/1", "status": "pass", "settings": {}, "checks": {},
              "dataset": {"root": "d", "images": n, "splits": {"train": n}, "classes": 1}}
    diff = diff_reports(report, report, images=(table("a", "cat"), table("b", "dog")))
    assert len(render_diff_markdown(diff).encode()) <= 65_536


def test_missing_or_damaged_images_parquet(clean_dataset, tmp_path):
    base = write(clean_dataset, tmp_path / "base", tmp_path / "c")
    head = write(clean_dataset, tmp_path / "head", tmp_path / "c")
    (tmp_path / "base/images.parquet").unlink()
    result = run("diff", base, head, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["data"] == {
        "compared": False, "reason": "no images.parquet beside the base report"}
    assert "### Data: not compared (no images.parquet beside the base report)" in run(
        "diff", base, head).stdout
    (tmp_path / "base/images.parquet").write_bytes(b"PAR1 garbage")
    result = run("diff", base, head)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "images.parquet: cannot read" in result.stderr and result.stderr.count("\n") == 1


def test_diff_argument_errors():
    assert run("diff", "only-one.json").exit_code == 2
    assert run("diff", "a", "b", "--rev", "HEAD").exit_code == 2
    with pytest.raises(ValueError, match="unknown kind"):
        has_change({"compared": True}, "balance")
