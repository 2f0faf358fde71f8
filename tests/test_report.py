import json
import re
import shutil

from datacheck import audit
from datacheck.report.escape import html_text, md
from datacheck.report.markdown import render_markdown
from tests.helpers import NO_MODEL, save

HOSTILE = "<img src=x onerror=alert(1)>|[x](http:evil.example)@octocat #1 `code` *b*"


def test_md_escape_neutralises_markup():
    out = md(HOSTILE + "\nnew line")
    assert "<img" not in out and "\n" not in out
    assert "|" not in out.replace("\\|", "")
    assert "@" not in out and "](" not in out.replace("\\]\\(", "")
    assert html_text("<b>&'\"") == "&lt;b&gt;&amp;&#x27;&quot;"


def test_hostile_file_names_and_labels_do_not_break_the_markdown(tmp_path, patches):
    root = tmp_path / "data"
    label = "<script>alert(1)</script>|x"
    name = "a|b <img src=x>[y](z)@me.jpg"
    for k in range(3):
        save(patches[k], root / "train" / label / f"{k}.jpg")
    save(patches[3], root / "train" / label / name)
    (root / "test" / label).mkdir(parents=True)
    shutil.copyfile(root / "train" / label / name, root / "test" / label / name)
    report = audit(root, checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False)
    text = render_markdown(report.to_dict())
    assert "<script" not in text and "<img" not in text and "@me" not in text
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            header = line
            assert len(cells) >= 2, header
    table_rows = [ln for ln in text.splitlines() if ln.startswith("| `leakage-")]
    assert table_rows and all(len(re.split(r"(?<!\\)\|", r)) == 10 for r in table_rows)
    assert json.loads(report.to_json())["checks"]["leakage"]["findings"][0]["b"].endswith(name)


def test_long_finding_lists_fold_into_details(tmp_path, patches):
    root = tmp_path / "data"
    for k in range(15):
        save(patches[k], root / "train" / "a" / f"{k}.jpg")
        (root / "test" / "a").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "train" / "a" / f"{k}.jpg", root / "test" / "a" / f"{k}.jpg")
    report = audit(root, checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False)
    text = render_markdown(report.to_dict())
    assert "### leakage: 15 findings" in text
    assert "<details><summary>5 more</summary>" in text


def test_skipped_checks_are_shown(tmp_path, patches):
    for k in range(3):
        save(patches[k], tmp_path / "data" / "a" / f"{k}.jpg")
    report = audit(tmp_path / "data", checks=NO_MODEL, cache_dir=tmp_path / "c",
                   progress=False).to_dict()
    assert "needs two of the splits" in report["skipped"]["shift"]
    assert "| shift | ⏭️ skipped |" in render_markdown(report)
