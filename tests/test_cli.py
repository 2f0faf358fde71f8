import json
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from datacheck.cli import cli
from tests.helpers import NO_MODEL


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_audit(path, *args):
    """`datacheck audit` without label_noise (the fixtures' labels are arbitrary)."""
    return run("audit", path, "--checks", ",".join(NO_MODEL), *args)


@pytest.fixture
def one_leak(clean_dataset):
    """clean_dataset with one train image byte-copied into test (test/a/leaked.jpg)."""
    src = sorted((clean_dataset / "train" / "a").glob("*.jpg"))[0]
    shutil.copyfile(src, clean_dataset / "test" / "a" / "leaked.jpg")
    return clean_dataset


def test_every_command_has_help():
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert command.help and command.help.strip(), name
        assert "Usage:" in result.output


def test_exit_codes_follow_fail_on(one_leak, tmp_path):
    cache = tmp_path / "c"
    assert run_audit(one_leak, "--cache", cache).exit_code == 0
    failing = run_audit(one_leak, "--cache", cache, "--fail-on", "leakage")
    assert failing.exit_code == 1
    assert "failing: leakage" in failing.stderr
    assert run("leakage", one_leak, "--cache", cache, "--fail-on", "any").exit_code == 1
    assert run("duplicates", one_leak, "--cache", cache, "--fail-on", "duplicates").exit_code == 0


def test_clean_dataset_exits_zero_with_fail_on(clean_dataset, tmp_path):
    result = run("leakage", clean_dataset, "--cache", tmp_path / "c", "--fail-on", "leakage")
    assert result.exit_code == 0
    assert "leakage" in result.stdout and "pass" in result.stdout


def test_json_output_contract(one_leak, tmp_path):
    result = run_audit(one_leak, "--cache", tmp_path / "c", "--format", "json")
    data = json.loads(result.stdout)
    assert data["schema"] == "datacheck.audit/1"
    assert data["dataset"]["images"] == 49
    assert data["dataset"]["splits"] == {"train": 24, "val": 12, "test": 13}
    assert list(data["checks"]) == ["integrity", "duplicates", "leakage", "balance", "shift"]
    for check in data["checks"].values():
        assert set(check) >= {"status", "summary", "metrics", "findings"}
        assert all(isinstance(v, (int, float)) for v in check["metrics"].values())
    leak = data["checks"]["leakage"]["findings"][0]
    assert {k: leak[k] for k in ("kind", "split_a", "b", "split_b", "distance")} == {
        "kind": "exact", "split_a": "train", "b": "test/a/leaked.jpg", "split_b": "test",
        "distance": 0}
    assert leak["a"].startswith("train/a/")


def test_out_writes_reports_and_flat_metrics(one_leak, tmp_path):
    out = tmp_path / "out"
    result = run_audit(one_leak, "--cache", tmp_path / "c", "--out", out, "--format",
                 "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("## datacheck: ❌ fail")
    assert sorted(p.name for p in out.iterdir()) == ["images.parquet", "metrics.json",
                                                     "report.html", "report.json", "report.md"]
    assert (out / "report.html").read_text().count("data:image/") >= 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["leakage.exact_pairs"] == 1 and metrics["leakage.status"] == 2
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert json.loads((out / "report.json").read_text())["status"] == "fail"


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "no such file or folder"),
    (lambda p: p, "no class or split folders"),
    (lambda p: (p / "m.csv").write_text("file,label\nx,y\n") and p / "m.csv", "lacks column"),
    (lambda p: (p / "m.json").write_text("{}") and p / "m.json", "must be .csv or .parquet"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, setup, message):
    result = run("audit", setup(tmp_path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_unknown_split_folder(clean_dataset):
    (clean_dataset / "holdout" / "a").mkdir(parents=True)
    result = run("audit", clean_dataset)
    assert result.exit_code == 2
    assert "unknown split folder 'holdout'" in result.stderr
    mapped = run("balance", clean_dataset, "--split", "holdout=test-val")
    assert mapped.exit_code == 0


@pytest.mark.parametrize("args", [
    ["--fail-on", "nonsense"], ["--split", "novalue"], ["--hash", "md5"],
    ["--threshold", "99"], ["--workers", "0"],
])
def test_bad_options_exit_2(clean_dataset, args):
    result = run_audit(clean_dataset, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_fail_on_a_check_the_command_does_not_run(clean_dataset):
    result = run("balance", clean_dataset, "--fail-on", "leakage")
    assert result.exit_code == 2
    assert "does not run" in result.stderr


def test_installed_entry_point_runs_in_a_subprocess(one_leak, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "datacheck", "leakage", str(one_leak), "--format", "json",
         "--cache", str(tmp_path / "c"), "--fail-on", "leakage"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["checks"]["leakage"]["metrics"]["pairs"] == 1
    assert re.search(r"\d+ images decoded", proc.stderr)


def test_diff_shows_a_planted_leak_as_one_new_row(clean_dataset, tmp_path):
    cache = tmp_path / "c"
    assert run_audit(clean_dataset, "--cache", cache, "--out", tmp_path / "base").exit_code == 0
    src = sorted((clean_dataset / "train" / "b").glob("*.jpg"))[0]
    shutil.copyfile(src, clean_dataset / "test" / "b" / "from_pr.jpg")
    assert run_audit(clean_dataset, "--cache", cache, "--out", tmp_path / "head").exit_code == 0
    base, head = tmp_path / "base" / "report.json", tmp_path / "head" / "report.json"
    data = json.loads(run("diff", base, head, "--format", "json").stdout)
    assert len(data["leakage"]["added"]) == 1 and data["leakage"]["removed"] == []
    assert data["leakage"]["added"][0]["b"] == "test/b/from_pr.jpg"
    failing = run("diff", base, head, "--fail-on", "new-leakage")
    assert failing.exit_code == 1 and "1 new leak" in failing.stdout
    assert run("diff", base, base, "--fail-on", "new-leakage").exit_code == 0
    bad = run("diff", base, tmp_path / "nope.json")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")
