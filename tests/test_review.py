"""Review decisions on a real folder of JPEGs: stable ids, `datacheck decide`, audits that
honour decisions (--fail-on), `datacheck apply`, and bad decisions files."""

from __future__ import annotations

import json
import logging
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from datacheck import audit
from datacheck.cli import cli
from datacheck.review import decisions as decided
from tests.helpers import save


@pytest.fixture
def two_leaks(clean_dataset, patches):
    """clean_dataset with two train images copied into test (one byte copy, one re-encoded)."""
    root = clean_dataset
    shutil.copyfile(root / "train/a/img000.jpg", root / "test/a/leak0.jpg")
    save(patches[9], root / "test/b/leak9.jpg", quality=70)  # train/b/img009.jpg re-encoded
    return root


def run(*args: str) -> tuple[int, str]:
    """Exit code and output (stdout and stderr) of a datacheck command."""
    result = CliRunner().invoke(cli, [*map(str, args), "--no-progress"])
    return result.exit_code, result.output


def audit_json(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, [*map(str, args), "--no-progress", "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def leak_ids(root, cache) -> dict[str, str]:
    """The leakage findings' ids by the test-side path."""
    _, report = audit_json("leakage", root, "--cache", cache)
    findings = report["checks"]["leakage"]["findings"]
    return {f["b"]: f["id"] for f in findings}


def test_ids_survive_renames_and_moves(two_leaks, tmp_path):
    before = leak_ids(two_leaks, tmp_path / "c")
    assert set(before) == {"test/a/leak0.jpg", "test/b/leak9.jpg"}
    (two_leaks / "test/a/leak0.jpg").rename(two_leaks / "test/a/renamed.jpg")
    (two_leaks / "test/c").mkdir(exist_ok=True)
    (two_leaks / "test/b/leak9.jpg").rename(two_leaks / "test/c/moved.jpg")
    after = leak_ids(two_leaks, tmp_path / "c")
    assert after == {"test/a/renamed.jpg": before["test/a/leak0.jpg"],
                     "test/c/moved.jpg": before["test/b/leak9.jpg"]}


def test_reviewed_leaks_pass_and_a_new_leak_fails_alone(two_leaks, tmp_path, patches):
    cache, file = tmp_path / "c", tmp_path / "decisions.yaml"
    code, _ = run("audit", two_leaks, "--checks", "leakage", "--fail-on", "leakage", "--cache",
                  cache)
    assert code == 1
    ids = leak_ids(two_leaks, cache)
    code, out = run("decide", two_leaks, *ids.values(), "--ok", "--note", "same photo, accepted",
                    "--decisions", file)
    assert code == 0, out
    entries = decided.load(file)
    assert set(entries) == set(ids.values())
    assert {e.decision for e in entries.values()} == {"ok"}
    assert all(e.note == "same photo, accepted" and e.author and e.date for e in entries.values())
    code, out = run("audit", two_leaks, "--checks", "leakage", "--fail-on", "leakage", "--cache",
                    cache, "--decisions", file)
    assert code == 0, out
    assert "2 reviewed ok" in out
    shutil.copyfile(two_leaks / "train/c/img020.jpg", two_leaks / "test/c/new.jpg")
    code, report = audit_json("audit", two_leaks, "--checks", "leakage", "--fail-on", "leakage",
                              "--cache", cache, "--decisions", file)
    assert code == 1
    open_ones = [f for f in report["checks"]["leakage"]["findings"] if f.get("review") is None]
    assert [f["b"] for f in open_ones] == ["test/c/new.jpg"]
    assert report["review"]["reviewed"] == 2 and report["review"]["stale"] == []


def test_a_fix_stays_pending_until_applied(two_leaks, tmp_path):
    cache, file = tmp_path / "c", tmp_path / "decisions.yaml"
    ids = leak_ids(two_leaks, cache)
    code, out = run("decide", two_leaks, ids["test/a/leak0.jpg"], "--drop", "--decisions", file)
    assert code == 0, out
    code, out = run("decide", two_leaks, ids["test/b/leak9.jpg"], "--move", "train",
                    "--decisions", file)
    assert code == 0, out
    report = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=file, progress=False)
    leakage = report.checks["leakage"]
    assert leakage.status == "fail"  # not applied yet
    assert sorted(leakage.findings["review"]) == ["fix pending: drop", "fix pending: move train"]
    manifest = tmp_path / "clean.csv"
    code, out = run("apply", two_leaks, "--out", manifest, "--decisions", file)
    assert code == 0, out
    rows = pd.read_csv(manifest)
    assert "test/a/leak0.jpg" not in set(rows["path"])
    assert rows.loc[rows["path"] == "test/b/leak9.jpg", "split"].item() == "train"
    assert "train/a/img000.jpg" in set(rows["path"])  # the train side of the exact copy stays
    cleaned = audit(manifest, root=two_leaks, checks=["leakage"], cache_dir=cache, decisions=file,
                    progress=False)
    assert cleaned.checks["leakage"].status == "pass"
    assert cleaned.review["resolved"] == 2 and cleaned.review["stale"] == []


def test_decisions_about_deleted_images_are_stale(two_leaks, tmp_path):
    cache, file = tmp_path / "c", tmp_path / "decisions.yaml"
    ids = leak_ids(two_leaks, cache)
    assert run("decide", two_leaks, ids["test/a/leak0.jpg"], "--ok", "--decisions", file)[0] == 0
    (two_leaks / "test/a/leak0.jpg").unlink()
    (two_leaks / "train/a/img000.jpg").unlink()
    report = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=file, progress=False)
    assert report.review["stale"] == [ids["test/a/leak0.jpg"]]


def test_bad_decisions_and_ids_get_one_line_and_exit_2(two_leaks, tmp_path, caplog):
    cache, file = tmp_path / "c", tmp_path / "decisions.yaml"
    file.write_text("decisions:\n- id: leakage-0123456789\n  decision: maybe\n")
    code, out = run("audit", two_leaks, "--checks", "leakage", "--cache", cache, "--decisions",
                    file)
    assert code == 2 and f"{file}:2: 'decision' must be one of ok, drop" in out
    file.write_text("decisions:\n- id: leakage-0123456789\n  decision: ok\n   note: [\n")
    code, out = run("audit", two_leaks, "--checks", "leakage", "--cache", cache, "--decisions",
                    file)
    assert code == 2 and f"{file}:4: not valid YAML" in out and "Traceback" not in out
    file.unlink()
    code, out = run("decide", two_leaks, "leakage-0123456789", "--ok", "--decisions", file)
    assert code == 2 and "leakage-0123456789 matches no finding" in out
    code, out = run("decide", two_leaks, "nonsense", "--ok", "--decisions", file)
    assert code == 2 and "not a finding id" in out
    code, out = run("decide", two_leaks, "leakage-0123456789", "--ok", "--drop", "--decisions",
                    file)
    assert code == 2 and "exactly one of" in out
    assert not file.exists()
    one = next(iter(leak_ids(two_leaks, cache).values()))
    file.write_text(f"decisions:\n- id: {one}\n  decision: drop\n- id: {one}\n  decision: ok\n")
    with caplog.at_level(logging.WARNING):
        report = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=file,
                       progress=False)
    assert "the later one wins" in caplog.text
    assert sorted(report.checks["leakage"].findings["review"].fillna("-")) == ["-", "ok"]


def test_diff_lists_new_decisions_and_fails_only_on_unreviewed_new_leaks(two_leaks, tmp_path):
    from datacheck.report.diff import diff_reports, has_new
    from datacheck.report.diff_markdown import render_diff_markdown

    cache, file = tmp_path / "c", tmp_path / "decisions.yaml"
    shutil.copyfile(two_leaks / "train/a/img000.jpg", two_leaks / "test/a/leak0.jpg")
    base = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=None,
                 progress=False).to_dict()
    shutil.copyfile(two_leaks / "train/c/img020.jpg", two_leaks / "test/c/new.jpg")  # the change
    new_id = leak_ids(two_leaks, cache)["test/c/new.jpg"]
    assert run("decide", two_leaks, new_id, "--ok", "--note", "known", "--decisions", file)[0] == 0
    head = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=file,
                 progress=False).to_dict()
    diff = diff_reports(base, head)
    assert [f["b"] for f in diff["leakage"]["added"]] == ["test/c/new.jpg"]
    assert not has_new(diff, "new-leakage")  # the one new leak is reviewed
    assert [e["id"] for e in diff["decisions"]["added"]] == [new_id]
    text = render_diff_markdown(diff)
    assert "### Review decisions: 1 added" in text and f"`{new_id}`" in text and "known" in text
    shutil.copyfile(two_leaks / "train/b/img010.jpg", two_leaks / "test/b/other.jpg")
    head = audit(two_leaks, checks=["leakage"], cache_dir=cache, decisions=file,
                 progress=False).to_dict()
    assert has_new(diff_reports(base, head), "new-leakage")
