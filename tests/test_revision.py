"""--rev: a real git + DVC repository in a temp folder (conftest's ``dvc_repo``), audited at
its previous commit.

The head commit renames 50 files, relabels 10, moves 5 from train to test, adds 20 and
re-encodes 3 (one of the renamed files is a leaked test copy of a train image); `datacheck diff
--rev HEAD~1 data` must report exactly those rows, no new leak, and decode only the 3 old
versions of the re-encoded files. Plain git data (no DVC) is read at a revision too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from datacheck import audit
from tests.helpers import run_cli, sh

CHECKS = ["integrity", "duplicates", "leakage", "balance"]

#: One pytest-xdist worker builds conftest's dvc_repo for these tests and test_diff_html's.
pytestmark = pytest.mark.xdist_group("dvc_repo")


def pairs(rows) -> dict[str, str]:
    return {r["base_path"]: r["path"] for r in rows}


def test_diff_rev_reports_every_planted_change_and_no_new_leak(dvc_repo, tmp_path):
    root = dvc_repo["root"]
    out = tmp_path / "out"
    result = run_cli("diff", "--rev", "HEAD~1", "data", "--format", "json", "--no-progress",
                     "--cache", tmp_path / "cache", "--out", out, cwd=root)
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    data = diff["data"]
    assert data["summary"] == {"added": 20, "removed": 0, "modified": 3, "renamed": 50,
                               "relabelled": 10, "split_moved": 5, "regrouped": 0,
                               "leak_risk": 5, "unchanged": 17}
    assert pairs(data["renamed"]) == dvc_repo["renamed"]
    assert pairs(data["relabelled"]) == dvc_repo["relabelled"]
    assert pairs(data["split_moved"]) == dvc_repo["moved"]
    assert all(r["leak_risk"] and (r["base_split"], r["split"]) == ("train", "test")
               for r in data["split_moved"])
    assert sorted(r["path"] for r in data["modified"]) == sorted(dvc_repo["reencoded"])
    assert all(r["digest"] != r["base_digest"] for r in data["modified"])
    assert sorted(r["path"] for r in data["added"]) == sorted(dvc_repo["added"])
    # the leaked copy was renamed: the same leak, matched by content, not a new one
    leak = diff["leakage"]
    assert leak["identity"] == "digest" and leak["added"] == [] and leak["removed"] == []
    assert diff["checks"]["leakage"] == {"base_status": "fail", "head_status": "fail"}
    base = json.loads((out / "base/report.json").read_text())
    assert base["dataset"]["rev"] == "HEAD~1" and len(base["dataset"]["commit"]) == 40
    assert base["dataset"]["images"] == len(dvc_repo["base"]) + 1
    assert (out / "base/images.parquet").is_file() and (out / "head/report.html").is_file()
    text = (out / "diff.md").read_text()
    assert len(text.encode()) <= 65536
    assert "#### 50 images renamed" in text and "<details><summary>40 more</summary>" in text
    assert "#### 5 images moved between splits" in text and "⚠️ yes" in text


def test_base_at_a_revision_decodes_only_what_changed(dvc_repo, tmp_path):
    root, cache = dvc_repo["root"], tmp_path / "cache"
    head = audit(root / "data", checks=CHECKS, cache_dir=cache, progress=False)
    assert head.stats["decoded"] == len(dvc_repo["base"]) + 1 + 20  # 3 re-encoded: new content
    old = os.getcwd()
    os.chdir(root)
    try:
        base = audit("data", rev="HEAD~1", checks=CHECKS, cache_dir=cache, progress=False)
        again = audit("data", rev="HEAD~1", checks=CHECKS, cache_dir=cache, progress=False)
    finally:
        os.chdir(old)
    # DVC's md5s of the working tree map to the digests the head audit computed: of the base,
    # only the old versions of the 3 re-encoded files are read and decoded
    assert base.stats["decoded"] == 3
    assert again.stats["decoded"] == 0
    assert base.dataset["images"] == len(dvc_repo["base"]) + 1
    paths = set(base.images["path"])
    assert set(dvc_repo["renamed"]) <= paths and not set(dvc_repo["added"]) & paths


def test_report_files_diff_and_fail_on_data_kinds(dvc_repo, tmp_path):
    root, cache = dvc_repo["root"], tmp_path / "cache"
    for args in (("--rev", "HEAD~1", "--out", tmp_path / "base"), ("--out", tmp_path / "head")):
        result = run_cli("audit", "data", "--checks", ",".join(CHECKS), "--cache", cache,
                         "--no-progress", *args, cwd=root)
        assert result.exit_code == 0, result.output
    files = (tmp_path / "base/report.json", tmp_path / "head/report.json")
    result = run_cli("diff", *files, "--format", "json", cwd=root)
    assert json.loads(result.stdout)["data"]["summary"]["relabelled"] == 10
    for kind in ("relabel", "split-move", "leak-risk", "modified"):
        result = run_cli("diff", *files, "--fail-on", kind, cwd=root)
        assert result.exit_code == 1 and f"failing: {kind}" in result.stderr
    assert run_cli("diff", *files, "--fail-on", "removed", "--fail-on", "new-leakage",
                   cwd=root).exit_code == 0


def test_rev_on_plain_git_data_needs_no_work_tree(dvc_repo, tmp_path):
    root = dvc_repo["root"]
    result = run_cli("audit", "plain", "--rev", "HEAD~1", "--checks", "integrity", "--format",
                     "json", "--cache", tmp_path / "cache", "--no-progress", cwd=root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"]["images"] == 4  # p0.jpg is gone from the working tree
    assert report["checks"]["integrity"]["status"] == "pass"
    shutil.rmtree(root / "plain")  # nothing of the work tree is needed
    try:
        again = run_cli("audit", "plain", "--rev", "HEAD~1", "--checks", "integrity",
                        "--cache", tmp_path / "cache", "--no-progress", cwd=root)
        assert again.exit_code == 0 and "0 images decoded" in again.stderr
    finally:
        sh(root, "git", "checkout", "-q", "--", "plain")


@pytest.mark.parametrize("args, message", [
    (("data", "--rev", "no-such-branch"), "error: --rev no-such-branch: no such revision in "),
    (("nothing", "--rev", "HEAD~1"), "error: nothing: not in revision HEAD~1 ("),
])
def test_bad_revision_or_path_is_one_line_and_exit_2(dvc_repo, tmp_path, args, message):
    result = run_cli("audit", *args, "--cache", tmp_path / "cache", "--no-progress",
                     cwd=dvc_repo["root"])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_outside_git_is_one_line(tmp_path):
    (tmp_path / "d").mkdir()
    result = run_cli("audit", "d", "--rev", "HEAD", "--no-progress", cwd=tmp_path)
    assert result.exit_code == 2 and "not inside a git repository" in result.stderr
    assert result.stderr.count("\n") == 1


def test_dvc_cache_missing_a_file_is_one_line_and_exit_2(dvc_repo, tmp_path):
    root = dvc_repo["root"]
    md5 = subprocess.run(["git", "-C", str(root), "show", "HEAD~1:data.dvc"],
                         capture_output=True, text=True, check=True).stdout
    dir_md5 = md5.split("md5: ", 1)[1].split()[0]
    listing = json.loads((root / ".dvc/cache/files/md5" / dir_md5[:2] / dir_md5[2:])
                         .read_text())
    entry = next(e for e in listing if e["relpath"] == dvc_repo["reencoded"][0])
    obj = root / ".dvc/cache/files/md5" / entry["md5"][:2] / entry["md5"][2:]
    aside = tmp_path / "object"
    shutil.move(obj, aside)
    try:
        result = run_cli("audit", "data", "--rev", "HEAD~1", "--checks", "integrity", "--cache",
                         tmp_path / "cache", "--no-progress", cwd=root)
    finally:
        shutil.move(aside, obj)
    assert result.exit_code == 2
    line = result.stderr
    assert line.startswith(f"error: data/{dvc_repo['reencoded'][0]} at HEAD~1: not in the DVC "
                           f"cache") and line.count("\n") == 1
    assert "dvc fetch" in line
