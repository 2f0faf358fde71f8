"""--rev: a real git + DVC repository in a temp folder, audited at its previous commit.

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
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from datacheck import audit
from datacheck.cli import cli
from tests.conftest import distinct_patches, require_dvc, save
from tests.test_pipeline import sh

CHECKS = ["integrity", "duplicates", "leakage", "balance"]
LABELS = ("a", "b", "c")


def run(*args, cwd: Path):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> dict:
    require_dvc()
    root = tmp_path_factory.mktemp("versions")
    data = root / "data"
    photos = distinct_patches(110, size=96, seed=3)
    k = 0
    base: list[str] = []
    for split, per_class in (("train", 24), ("test", 4)):
        for label in LABELS:
            for _ in range(per_class):
                rel = f"{split}/{label}/img{k:03d}.jpg"
                save(photos[k], data / rel)
                base.append(rel)
                k += 1
    shutil.copyfile(data / "train/a/img000.jpg", data / "test/a/leak.jpg")  # a leak in base
    for n in range(4):  # plain git data, no DVC
        save(photos[100 + n], root / "plain" / "all" / f"p{n}.jpg")
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@example.invalid")
    sh(root, "git", "config", "user.name", "ci")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "base")

    train = [p for p in base if p.startswith("train/")]
    # 50 renames (the leaked test copy among them), 10 relabels, 5 train -> test, 3 re-encodes
    renamed = {"test/a/leak.jpg": "test/a/leak_renamed.jpg"}
    for rel in train[:49]:
        renamed[rel] = rel.replace("img", "renamed_")
    relabelled = {}
    for rel in train[49:59]:
        split, label, name = rel.split("/")
        relabelled[rel] = f"{split}/{LABELS[(LABELS.index(label) + 1) % 3]}/{name}"
    moved = {rel: rel.replace("train/", "test/") for rel in train[59:64]}
    for old, new in {**renamed, **relabelled, **moved}.items():
        (data / new).parent.mkdir(parents=True, exist_ok=True)
        (data / old).rename(data / new)
    reencoded = train[64:67]
    for rel in reencoded:
        Image.open(data / rel).convert("RGB").save(data / rel, "JPEG", quality=60)
    added = []
    for n in range(20):
        rel = f"{('train', 'test')[n % 2]}/{LABELS[n % 3]}/new{n:02d}.jpg"
        save(photos[k + n], data / rel)
        added.append(rel)
    (root / "plain/all/p0.jpg").unlink()
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "head")
    return {"root": root, "renamed": renamed, "relabelled": relabelled, "moved": moved,
            "reencoded": reencoded, "added": added, "base": base}


def pairs(rows) -> dict[str, str]:
    return {r["base_path"]: r["path"] for r in rows}


def test_diff_rev_reports_every_planted_change_and_no_new_leak(repo, tmp_path):
    root = repo["root"]
    out = tmp_path / "out"
    result = run("diff", "--rev", "HEAD~1", "data", "--format", "json", "--no-progress",
                 "--cache", tmp_path / "cache", "--out", out, cwd=root)
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    data = diff["data"]
    assert data["summary"] == {"added": 20, "removed": 0, "modified": 3, "renamed": 50,
                               "relabelled": 10, "split_moved": 5, "regrouped": 0,
                               "leak_risk": 5, "unchanged": 17}
    assert pairs(data["renamed"]) == repo["renamed"]
    assert pairs(data["relabelled"]) == repo["relabelled"]
    assert pairs(data["split_moved"]) == repo["moved"]
    assert all(r["leak_risk"] and (r["base_split"], r["split"]) == ("train", "test")
               for r in data["split_moved"])
    assert sorted(r["path"] for r in data["modified"]) == sorted(repo["reencoded"])
    assert all(r["digest"] != r["base_digest"] for r in data["modified"])
    assert sorted(r["path"] for r in data["added"]) == sorted(repo["added"])
    # the leaked copy was renamed: the same leak, matched by content, not a new one
    leak = diff["leakage"]
    assert leak["identity"] == "digest" and leak["added"] == [] and leak["removed"] == []
    assert diff["checks"]["leakage"] == {"base_status": "fail", "head_status": "fail"}
    base = json.loads((out / "base/report.json").read_text())
    assert base["dataset"]["rev"] == "HEAD~1" and len(base["dataset"]["commit"]) == 40
    assert base["dataset"]["images"] == len(repo["base"]) + 1
    assert (out / "base/images.parquet").is_file() and (out / "head/report.html").is_file()
    text = (out / "diff.md").read_text()
    assert len(text.encode()) <= 65536
    assert "#### 50 images renamed" in text and "<details><summary>40 more</summary>" in text
    assert "#### 5 images moved between splits" in text and "⚠️ yes" in text


def test_base_at_a_revision_decodes_only_what_changed(repo, tmp_path):
    root, cache = repo["root"], tmp_path / "cache"
    head = audit(root / "data", checks=CHECKS, cache_dir=cache, progress=False)
    assert head.stats["decoded"] == len(repo["base"]) + 1 + 20  # 3 re-encoded: new content
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
    assert base.dataset["images"] == len(repo["base"]) + 1
    paths = set(base.images["path"])
    assert set(repo["renamed"]) <= paths and not set(repo["added"]) & paths


def test_report_files_diff_and_fail_on_data_kinds(repo, tmp_path):
    root, cache = repo["root"], tmp_path / "cache"
    for args in (("--rev", "HEAD~1", "--out", tmp_path / "base"), ("--out", tmp_path / "head")):
        result = run("audit", "data", "--checks", ",".join(CHECKS), "--cache", cache,
                     "--no-progress", *args, cwd=root)
        assert result.exit_code == 0, result.output
    files = (tmp_path / "base/report.json", tmp_path / "head/report.json")
    result = run("diff", *files, "--format", "json", cwd=root)
    assert json.loads(result.stdout)["data"]["summary"]["relabelled"] == 10
    for kind in ("relabel", "split-move", "leak-risk", "modified"):
        result = run("diff", *files, "--fail-on", kind, cwd=root)
        assert result.exit_code == 1 and f"failing: {kind}" in result.stderr
    assert run("diff", *files, "--fail-on", "removed", "--fail-on", "new-leakage",
               cwd=root).exit_code == 0


def test_rev_on_plain_git_data_needs_no_work_tree(repo, tmp_path):
    root = repo["root"]
    result = run("audit", "plain", "--rev", "HEAD~1", "--checks", "integrity", "--format",
                 "json", "--cache", tmp_path / "cache", "--no-progress", cwd=root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"]["images"] == 4  # p0.jpg is gone from the working tree
    assert report["checks"]["integrity"]["status"] == "pass"
    shutil.rmtree(root / "plain")  # nothing of the work tree is needed
    try:
        again = run("audit", "plain", "--rev", "HEAD~1", "--checks", "integrity",
                    "--cache", tmp_path / "cache", "--no-progress", cwd=root)
        assert again.exit_code == 0 and "0 images decoded" in again.stderr
    finally:
        sh(root, "git", "checkout", "-q", "--", "plain")


@pytest.mark.parametrize("args, message", [
    (("data", "--rev", "no-such-branch"), "error: --rev no-such-branch: no such revision in "),
    (("nothing", "--rev", "HEAD~1"), "error: nothing: not in revision HEAD~1 ("),
])
def test_bad_revision_or_path_is_one_line_and_exit_2(repo, tmp_path, args, message):
    result = run("audit", *args, "--cache", tmp_path / "cache", "--no-progress",
                 cwd=repo["root"])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_outside_git_is_one_line(tmp_path):
    (tmp_path / "d").mkdir()
    result = run("audit", "d", "--rev", "HEAD", "--no-progress", cwd=tmp_path)
    assert result.exit_code == 2 and "not inside a git repository" in result.stderr
    assert result.stderr.count("\n") == 1


def test_dvc_cache_missing_a_file_is_one_line_and_exit_2(repo, tmp_path):
    root = repo["root"]
    md5 = subprocess.run(["git", "-C", str(root), "show", "HEAD~1:data.dvc"],
                         capture_output=True, text=True, check=True).stdout
    dir_md5 = md5.split("md5: ", 1)[1].split()[0]
    listing = json.loads((root / ".dvc/cache/files/md5" / dir_md5[:2] / dir_md5[2:])
                         .read_text())
    entry = next(e for e in listing if e["relpath"] == repo["reencoded"][0])
    obj = root / ".dvc/cache/files/md5" / entry["md5"][:2] / entry["md5"][2:]
    aside = tmp_path / "object"
    shutil.move(obj, aside)
    try:
        result = run("audit", "data", "--rev", "HEAD~1", "--checks", "integrity", "--cache",
                     tmp_path / "cache", "--no-progress", cwd=root)
    finally:
        shutil.move(aside, obj)
    assert result.exit_code == 2
    line = result.stderr
    assert line.startswith(f"error: data/{repo['reencoded'][0]} at HEAD~1: not in the DVC "
                           f"cache") and line.count("\n") == 1
    assert "dvc fetch" in line
