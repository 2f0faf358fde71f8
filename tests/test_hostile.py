"""Hostile input: every case ends in a finding or a clean error, never a traceback."""

import json
import os

import numpy as np
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
