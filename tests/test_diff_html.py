"""datacheck diff --html: the data diff as one self-contained page with thumbnails, on the
real git + DVC repository of test_revision (conftest's ``dvc_repo``: renames, relabels, moves,
adds, re-encodes), the base read at its revision; and two plain folders compared from their
report.json files."""

from __future__ import annotations

import base64
import io
import re
import shutil

import pytest
from PIL import Image

from tests.helpers import (
    HOSTILE_FILE,
    HOSTILE_LABEL,
    Page,
    decoded_images,
    run_chromium,
    run_cli,
    save,
)

#: On the pytest-xdist worker that builds conftest's dvc_repo for test_revision.
ON_DVC_REPO = pytest.mark.xdist_group("dvc_repo")


def sections(html: str) -> dict[str, str]:
    """Each <section id=...> of the page and its HTML."""
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, re.S))


def decoded(uri: str) -> Image.Image:
    mime, _, data = uri.partition(";base64,")
    assert mime in ("data:image/jpeg", "data:image/png"), uri[:40]
    with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as img:
        img.load()
        return img


@ON_DVC_REPO
def test_diff_rev_html_shows_every_change_with_thumbnails(dvc_repo, tmp_path):
    root, out = dvc_repo["root"], tmp_path / "out"
    result = run_cli("diff", "--rev", "HEAD~1", "data", "--no-progress", "--cache",
                     tmp_path / "cache", "--out", out, "--html", tmp_path / "page.html", cwd=root)
    assert result.exit_code == 0, result.output
    html = (out / "diff.html").read_text(encoding="utf-8")
    assert html == (tmp_path / "page.html").read_text(encoding="utf-8")
    parts = sections(html)
    expected = {"data-added": 20, "data-modified": 6, "data-renamed": 50, "data-relabelled": 10,
                "data-split_moved": 5}
    assert {k: len(Page(v).images()) for k, v in parts.items() if k.startswith("data-")} \
        == expected
    assert "placeholder" not in html and 'class="thumb ph"' not in html  # every file was read
    for attrs in Page(html).images():
        assert max(decoded(attrs["src"]).size) <= 96
    # re-encoded files: the old version comes from the revision (DVC cache), not the work tree
    cards = parts["data-modified"].split('<div class="card">')[1:]
    assert len(cards) == 3
    for pair in cards:
        before, after = (a["src"] for a in Page(pair).images())
        assert before != after
    # old and new label side by side; moves into a later split flagged
    for old, new in dvc_repo["relabelled"].items():
        was, now = old.split("/")[1], new.split("/")[1]
        assert (f'<span class="given">{was}</span> → <span class="sugg">{now}</span>'
                in parts["data-relabelled"])
    assert parts["data-split_moved"].count("leak risk") == 5
    assert parts["data-split_moved"].count('<span class="given">train</span> → '
                                           '<span class="sugg">test</span>') == 5
    for old, new in list(dvc_repo["renamed"].items())[:5]:
        for path in (old, new):
            assert path.replace("/", "/<wbr>") in parts["data-renamed"]
    assert "leakage" not in parts  # the renamed leak is not a new one


def test_two_reports_html_reads_each_side_and_escapes_names(tmp_path, patches):
    base, head = tmp_path / "base", tmp_path / "head"
    for k in range(6):
        save(patches[k], base / "train" / ("a", "b")[k % 2] / f"{k}.jpg")
    save(patches[6], base / "test/a" / HOSTILE_FILE)
    shutil.copytree(base, head)
    (head / "test/a" / HOSTILE_FILE).unlink()  # removed: its thumbnail is the base's file
    (head / "train" / HOSTILE_LABEL).mkdir()
    (head / "train/a/0.jpg").rename(head / "train" / HOSTILE_LABEL / "0.jpg")  # relabelled
    Image.open(head / "train/b/1.jpg").save(head / "train/b/1.jpg", quality=40)  # modified
    for side in (base, head):
        result = run_cli("audit", side.name, "--checks", "integrity,leakage", "--out",
                         f"{side.name}-report", "--no-progress", cwd=tmp_path)
        assert result.exit_code in (0, 1), result.output
    result = run_cli("diff", "base-report/report.json", "head-report/report.json", "--html",
                     "diff.html", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "diff.html").read_text(encoding="utf-8")
    parts = sections(html)
    assert len(Page(parts["data-removed"]).images()) == 1
    assert len(Page(parts["data-modified"]).images()) == 2
    assert len(Page(parts["data-relabelled"]).images()) == 1
    assert 'class="thumb ph"' not in html
    assert HOSTILE_FILE not in html and HOSTILE_LABEL not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b onmouseover" in html
    text = "".join(Page(html).text)
    assert HOSTILE_FILE in text and HOSTILE_LABEL in text
    assert not [t for t, a in Page(html).tags
                if t in ("script", "iframe", "link") or any(k.startswith("on") for k in a)]


@ON_DVC_REPO
def test_chromium_renders_the_diff_page(dvc_repo, chromium, tmp_path):
    root = dvc_repo["root"]
    page = tmp_path / "diff.html"
    result = run_cli("diff", "--rev", "HEAD~1", "data", "--no-progress", "--cache",
                     tmp_path / "cache", "--html", page, cwd=root)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    expected = len(Page(html).images())
    assert expected == 91
    dom = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(Page(dom.stdout).images()) == expected
    assert decoded_images(chromium, tmp_path, html) == expected
    shot = tmp_path / "diff.png"
    run_ = run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                        page.as_uri())
    assert run_.returncode == 0 and shot.exists(), run_.stderr[-2000:]
