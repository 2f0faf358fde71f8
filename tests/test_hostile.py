"""Hostile input: every case ends in a finding or a clean error, never a traceback."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datacheck.cli import cli


def test_hostile_folder_is_audited_without_crashing(tmp_path):
    root = tmp_path / "data"
    (root / "train" / "a").mkdir(parents=True)
    (root / "test" / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(12):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            root / "train" / "a" / f"{k}.png")
    os.symlink("..", root / "train" / "a" / "loop")  # a symlink loop
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
        os.fsencode(root / "test" / "a") + b"/bad\xffname.png")  # not UTF-8
    Image.new("RGB", (1, 1)).save(root / "train" / "a" / "one.png")
    Image.new("RGB", (3000, 10)).save(root / "train" / "a" / "wide.png")
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    frames[0].save(root / "train" / "a" / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("RGBA", (40, 40), (255, 0, 0, 0)).save(root / "train" / "a" / "clear.png")
    Image.new("I;16", (40, 40)).save(root / "train" / "a" / "deep.png")
    (root / "train" / "a" / "<img src=x onerror=alert(1)>.png").write_bytes(b"\x89PNG\r\n")

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["audit", str(root), "--checks",
                                      "integrity,duplicates,leakage,balance",
                                      "--out", str(out), "--cache",
                                      str(tmp_path / "c")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    problems = {f["path"]: f["problem"] for f in report["checks"]["integrity"]["findings"]}
    assert problems["test/a/bad\\xffname.png"].startswith("file name is not valid UTF-8")
    assert problems["train/a/one.png"].startswith("tiny image")
    assert problems["train/a/wide.png"].startswith("tiny image")
    assert problems["train/a/<img src=x onerror=alert(1)>.png"].startswith("not an image")
    assert "train/a/anim.gif" not in problems or "mode" in problems["train/a/anim.gif"]
    assert not any("loop" in p for p in problems)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<img" not in markdown
    assert report["dataset"]["images"] == 19


def _snapshot(folder) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` with its size and mtime: what an audit must not change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), folder)] = (st.st_size,
                                                                          st.st_mtime_ns)
    return out


def _audit(root, tmp_path, *extra):
    return CliRunner().invoke(cli, ["audit", str(root), "--checks",
                                    "integrity,duplicates,leakage,balance", "--out",
                                    str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                                    "--no-progress", *extra], catch_exceptions=False)


def test_extreme_shapes_and_modes_are_findings_or_decoded(tmp_path):
    root = tmp_path / "data"
    (root / "train" / "a").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(
            root / "train" / "a" / f"ok{k}.png")
    folder = root / "train" / "a"
    Image.new("RGB", (30000, 10), (200, 10, 10)).save(folder / "strip.png")
    Image.new("L", (10, 30000), 90).save(folder / "tower.jpg")
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).convert(
        "CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).convert(
        "P").save(folder / "palette.png")
    Image.fromarray(rng.integers(0, 65535, (48, 48), dtype=np.uint16)).save(folder / "deep.png")
    before = _snapshot(root)

    result = _audit(root, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    problems: dict[str, list[str]] = {}
    for f in report["checks"]["integrity"]["findings"]:
        problems.setdefault(f["path"], []).append(f["problem"])
    assert any(p.startswith("tiny image") for p in problems["train/a/strip.png"])
    assert any(p.startswith("tiny image") for p in problems["train/a/tower.jpg"])
    for name in ("cmyk.jpg", "palette.png", "deep.png", "ok0.png"):
        assert not any(p.startswith(("truncated", "cannot", "not an image"))
                       for p in problems.get(f"train/a/{name}", [])), name
    assert report["dataset"]["images"] == 9
    assert _snapshot(root) == before  # nothing written into the dataset


@pytest.mark.slow
def test_a_folder_of_100k_files(tmp_path):
    """100,000 entries in one folder (none an image): indexed, reported, no crash; the reports
    fold the long list instead of printing it all."""
    folder = tmp_path / "data" / "a"
    folder.mkdir(parents=True)
    for k in range(100_000):
        (folder / f"f{k:06d}.txt").write_bytes(b"not an image %d" % k)
    result = _audit(tmp_path / "data", tmp_path, "--fail-on", "integrity")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["images"] == 100_000
    assert report["checks"]["integrity"]["metrics"]["unreadable"] == 100_000
    assert len(report["checks"]["integrity"]["findings"]) == 100_000
    assert report["checks"]["duplicates"]["status"] == "pass"
    assert (out / "report.md").stat().st_size < 100_000  # a PR comment, not a dump
    assert len(result.stdout.splitlines()) < 40


def _nobody_can_reach(path) -> None:
    """Let another user walk down to ``path`` (pytest's tmp folders are private to root)."""
    for parent in [path, *path.parents]:
        if parent == parent.parent:
            break
        parent.chmod(parent.stat().st_mode | 0o055)


def _numba_kernels_for_another_user(cache_dir) -> None:
    """Copy the numba kernels this checkout compiled (datacheck/**/__pycache__) to where a user
    who cannot write there finds them with NUMBA_CACHE_DIR=cache_dir: numba would otherwise
    compile every kernel again for that user (~30 s), and a kernel not copied still compiles."""
    import shutil

    import datacheck

    try:
        from numba.core.caching import _CacheLocator
        subpath = _CacheLocator.get_suitable_cache_subpath
    except (ImportError, AttributeError):  # another numba: let it compile
        return
    for folder in Path(datacheck.__file__).parent.rglob("__pycache__"):
        kernels = [f for f in folder.iterdir() if f.suffix in (".nbi", ".nbc")]
        if kernels:
            target = cache_dir / subpath(str(folder.parent / "module.py"))
            target.mkdir(parents=True, exist_ok=True)
            for kernel in kernels:
                shutil.copy2(kernel, target / kernel.name)


def test_read_only_dataset_is_audited_and_left_untouched(tmp_path, clean_dataset):
    """The default cache moves to the user's cache folder; the dataset is not written to.

    As root (CI), permissions do not stop writes, so the audit runs as user nobody."""
    import shutil
    import subprocess
    import sys

    root = clean_dataset
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o555)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
    before = _snapshot(root)
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "out"
    command = [sys.executable, "-m", "datacheck", "audit", str(root), "--checks",
               "integrity,duplicates,leakage,balance", "--out", str(out), "--no-progress"]
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "NUMBA_CACHE_DIR": str(home / "numba")}
    _numba_kernels_for_another_user(home / "numba")
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop privileges")
        drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        _nobody_can_reach(tmp_path)
        for path in (home, *(home / "numba").rglob("*")):
            path.chmod(0o777 if path.is_dir() else 0o666)
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        probe = subprocess.run([*drop, sys.executable, "-c", "import datacheck"],
                               capture_output=True, text=True, env=env, timeout=120)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot import datacheck from this checkout (its folder is "
                        "private, e.g. a clone inside `mktemp -d`); clone into a folder other "
                        "users can read to run this test")
        command = [*drop, *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "read-only; caching under" in result.stderr
    assert not (root / ".datacheck").exists()
    assert _snapshot(root) == before
    assert list((home / ".cache" / "datacheck").iterdir())  # the cache went there
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["images"] == 48
    assert report["checks"]["leakage"]["status"] == "pass"


def test_an_empty_split_folder_is_shown_with_no_images(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(2)
    for k in range(12):
        folder = root / "train" / "ab"[k % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"{k}.png")
    (root / "test" / "a").mkdir(parents=True)  # a split whose images were never copied
    result = _audit(root, tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"]["splits"] == {"train": 12, "test": 0}
    assert "test 0" in result.stdout
