"""--rev fetching from a DVC remote: a real git + DVC repository whose remote is a local folder
(`dvc remote add -d`, `dvc push`), its local DVC cache deleted, audited at its previous commit.

Only the objects datacheck cannot know are fetched: with the remote pruned down to the old
version of the one re-encoded file, `datacheck diff --rev` still reads the whole base (the head
audit knows the rest by DVC's md5s); a fresh cache then needs the pruned objects, and their
absence is one line and exit 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import distinct_patches, require_dvc, run_cli, save, sh

#: One pytest-xdist worker builds remote_repo for all these tests.
pytestmark = pytest.mark.xdist_group("remote_repo")


@pytest.fixture(scope="module")
def remote_repo(tmp_path_factory) -> dict:
    require_dvc()
    top = tmp_path_factory.mktemp("remote")
    root, store = top / "repo", top / "store"
    photos = distinct_patches(13, size=80, seed=5)
    for k in range(12):
        save(photos[k], root / "data" / ("train", "test")[k % 2] / ("a", "b")[k // 2 % 2]
             / f"{k}.jpg")
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@example.invalid")
    sh(root, "git", "config", "user.name", "ci")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "remote", "add", "-q", "-d", "store", str(store))
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "base")
    sh(root, "dvc", "push", "-q")
    (root / "data/train/b").mkdir(parents=True, exist_ok=True)
    (root / "data/train/a/0.jpg").rename(root / "data/train/b/0.jpg")  # relabelled
    reencoded = "train/a/4.jpg"
    Image.open(root / "data" / reencoded).save(root / "data" / reencoded, quality=40)
    save(photos[12], root / "data/test/a/new.jpg")  # added
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "head")
    sh(root, "dvc", "push", "-q")
    shutil.rmtree(root / ".dvc/cache")  # every object of the base is on the remote only
    return {"root": root, "store": store, "reencoded": reencoded}


def base_objects(repo: dict) -> dict[str, Path]:
    """Relative path -> its object file on the remote, for the files of the base commit."""
    root, store = repo["root"], repo["store"]
    dvc_file = subprocess.run(["git", "-C", str(root), "show", "HEAD~1:data.dvc"],
                              capture_output=True, text=True, check=True).stdout
    dir_md5 = dvc_file.split("md5: ", 1)[1].split()[0]
    objects = store / "files/md5"
    listing = json.loads((objects / dir_md5[:2] / dir_md5[2:]).read_text())
    return {e["relpath"]: objects / e["md5"][:2] / e["md5"][2:] for e in listing}


def test_audit_rev_fetches_every_base_file_from_the_remote(remote_repo, tmp_path):
    root = remote_repo["root"]
    result = run_cli("audit", "data", "--rev", "HEAD~1", "--checks", "integrity,balance",
                     "--format", "json", "--cache", tmp_path / "cache", "--no-progress", cwd=root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"]["images"] == 12 and report["dataset"]["splits"] == {
        "train": 6, "test": 6}
    assert report["checks"]["integrity"]["status"] == "pass"  # all 12 decoded: real bytes
    assert "12 images decoded" in result.stderr
    # read from the remote into memory: the project's DVC cache is left as it was (empty)
    assert not [p for p in (root / ".dvc").rglob("*") if p.is_file() and "cache" in p.parts]


def test_diff_rev_fetches_only_what_changed_and_a_missing_object_is_one_line(remote_repo,
                                                                             tmp_path):
    root, objects = remote_repo["root"], base_objects(remote_repo)
    keep = objects[remote_repo["reencoded"]]  # the old version of the re-encoded file
    aside = tmp_path / "aside"
    aside.mkdir()
    pruned = [(path, aside / f"{n}") for n, path in enumerate(objects.values()) if path != keep]
    for path, moved in pruned:
        shutil.move(path, moved)
    try:
        result = run_cli("diff", "--rev", "HEAD~1", "data", "--format", "json", "--cache",
                         tmp_path / "cache", "--no-progress", cwd=root)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)["data"]["summary"]
        assert summary == {"added": 1, "removed": 0, "modified": 1, "renamed": 0,
                           "relabelled": 1, "split_moved": 0, "regrouped": 0, "leak_risk": 0,
                           "unchanged": 10}
        assert "base at HEAD~1 1 (" in result.stderr  # one file read, fetched from the remote

        fresh = run_cli("audit", "data", "--rev", "HEAD~1", "--checks", "integrity", "--cache",
                        tmp_path / "fresh", "--no-progress", cwd=root)
    finally:
        for path, moved in pruned:
            shutil.move(moved, path)
    assert fresh.exit_code == 2
    line = fresh.stderr
    assert line.startswith("error: data/") and line.count("\n") == 1, line
    assert "not in the DVC cache and not fetched from a remote" in line
    assert f"({len(pruned)} files missing)" in line and "dvc fetch" in line


def test_the_pull_request_workflow_steps_on_a_fresh_clone(remote_repo, tmp_path):
    """examples/github-actions.yml: clone, `dvc pull` (the head only), `datacheck diff --rev`:
    the base's unchanged files are known by the md5s `dvc pull` recorded, the one changed
    file is fetched from the remote by datacheck."""
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(remote_repo["root"]), str(clone))
    sh(clone, "dvc", "pull", "-q")
    result = run_cli("diff", "--rev", "HEAD~1", "data", "--out", tmp_path / "out", "--cache",
                     tmp_path / "cache", "--no-progress", cwd=clone)
    assert result.exit_code == 0, result.output
    assert "decoded: head 13 images" in result.stderr and "base at HEAD~1 1 (" in result.stderr
    diff = json.loads((tmp_path / "out/diff.json").read_text())
    assert diff["data"]["summary"]["modified"] == 1
    assert [r["path"] for r in diff["data"]["modified"]] == [remote_repo["reencoded"]]
    assert (tmp_path / "out/diff.html").is_file()
