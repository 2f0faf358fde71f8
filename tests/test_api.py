"""The Python API behind each command (load_report, diff) and the shared CLI conventions
(--fail-on lists, per-check options), on real audits of images written to disk."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

import datacheck
from datacheck.cli import cli

CHECKS = ["integrity", "duplicates", "leakage", "balance"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def audited(root, out, cache):
    report = datacheck.audit(root, checks=CHECKS, cache_dir=cache, progress=False)
    report.write(out)
    return out / "report.json"


def test_load_report_is_the_audit_report_as_written(clean_dataset, tmp_path):
    shutil.copyfile(clean_dataset / "train/a/img000.jpg", clean_dataset / "test/a/leak.jpg")
    path = audited(clean_dataset, tmp_path / "r", tmp_path / "c")
    loaded = datacheck.load_report(path)

    assert isinstance(loaded, datacheck.AuditReport)
    assert loaded.to_dict() == json.loads(path.read_text())
    assert loaded.status == "fail" and loaded.failed(["leakage", "balance"]) == ["leakage"]
    leak = loaded.checks["leakage"].findings
    assert leak[["a", "b"]].values.tolist() == [["train/a/img000.jpg", "test/a/leak.jpg"]]
    assert sorted(loaded.images["path"])[:2] == ["test/a/img036.jpg", "test/a/img037.jpg"]


def test_diff_api_and_fail_on_lists(clean_dataset, tmp_path):
    base = audited(clean_dataset, tmp_path / "base", tmp_path / "c")
    shutil.copyfile(clean_dataset / "train/b/img008.jpg", clean_dataset / "test/b/leak.jpg")
    (clean_dataset / "val/c/img032.jpg").unlink()
    head = audited(clean_dataset, tmp_path / "head", tmp_path / "c")

    result = datacheck.diff(base, head)
    assert [(r["a"], r["b"]) for r in result.data["leakage"]["added"]] == [
        ("train/b/img008.jpg", "test/b/leak.jpg")]
    assert result.failing(["new-leakage", "new-duplicates", "removed", "relabel"]) == [
        "new-leakage", "removed"]
    assert "### Leakage: 1 new" in result.markdown()
    assert "<h2>Leakage</h2>" in result.page

    # --fail-on: a comma list, repeated, or both
    for fail_on in (["--fail-on", "relabel,new-leakage"],
                    ["--fail-on", "relabel", "--fail-on", "new-leakage"]):
        run = invoke("diff", base, head, *fail_on)
        assert run.exit_code == 1 and "failing: new-leakage" in run.output
    assert invoke("diff", base, head, "--fail-on", "relabel,new-duplicates").exit_code == 0
    bad = invoke("diff", base, head, "--fail-on", "new-leak")
    assert bad.exit_code == 2 and "unknown 'new-leak'" in bad.output


def test_audit_fail_on_takes_lists_and_repeats(clean_dataset, tmp_path):
    shutil.copyfile(clean_dataset / "train/a/img000.jpg", clean_dataset / "test/a/leak.jpg")
    common = [clean_dataset, "--checks", "duplicates,leakage", "--cache", tmp_path / "c",
              "--no-progress"]
    assert invoke("audit", *common, "--fail-on", "duplicates").exit_code == 0
    for fail_on in (["--fail-on", "duplicates,leakage"],
                    ["--fail-on", "duplicates", "--fail-on", "leakage"]):
        run = invoke("audit", *common, *fail_on)
        assert run.exit_code == 1 and "failing: leakage" in run.output


def test_each_check_command_takes_only_its_option_groups():
    def flags(*command):
        return set(invoke(*command, "--help").output.split())

    every = flags("audit")
    leakage, noise, balance = flags("leakage"), flags("label-noise"), flags("balance")
    assert {"--threshold", "--folds", "--min-per-class", "--hash"} <= every
    assert "--threshold" in leakage and "--hash" in leakage and "--folds" not in leakage
    assert "--folds" in noise and "--threshold" not in noise
    assert "--min-per-class" in balance and "--threshold" not in balance
