"""Property-based tests: arbitrary strings never break the loader or inject markup."""

import re

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacheck import BadInputError, load_dataset
from datacheck.report.escape import html_text, md
from datacheck.report.markdown import render_markdown

TEXT = st.text(min_size=1, max_size=40)


@given(TEXT)
def test_md_cell_cannot_break_a_table_or_inject_html(text):
    cell = md(text)
    assert "\n" not in cell and "<" not in cell and ">" not in cell
    assert not re.search(r"(?<!\\)\|", cell)
    assert "@" not in cell


@given(TEXT)
def test_html_text_has_no_markup(text):
    out = html_text(text)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(paths=st.lists(TEXT, min_size=1, max_size=5), labels=st.lists(TEXT, min_size=1,
                                                                    max_size=5))
def test_manifest_loader_accepts_or_rejects_cleanly(tmp_path, paths, labels):
    frame = pd.DataFrame({"path": paths, "label": (labels * 5)[: len(paths)]})
    manifest = tmp_path / "m.parquet"
    frame.to_parquet(manifest)
    try:
        ds = load_dataset(manifest)
    except BadInputError:
        return
    for p in ds.table["path"]:
        assert not p.startswith("..") and not p.startswith("/")


@settings(max_examples=60, deadline=None)
@given(names=st.lists(TEXT, min_size=1, max_size=4), label=TEXT)
def test_rendered_markdown_rows_keep_their_columns(names, label):
    report = {
        "status": "fail",
        "dataset": {"root": label, "images": len(names), "splits": {"train": len(names)}},
        "checks": {"integrity": {"status": "fail", "summary": label, "metrics": {},
                                 "findings": [{"path": n, "problem": label} for n in names]}},
    }
    text = render_markdown(report)
    assert "<script" not in text.lower() and "<img" not in text.lower()
    expected = None
    rows = 0
    for line in text.splitlines():
        if re.fullmatch(r"\|(-+:?\|)+", line):
            expected = line.count("|")  # the separator line fixes the column count
        elif line.startswith("|") and expected:
            assert len(re.findall(r"(?<!\\)\|", line)) == expected, line
            rows += 1
        elif not line.startswith("|"):
            expected = None
    assert rows >= 1 + len(names)
