"""A real `dvc repro` of the repository's pipeline in a temporary git repo."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import sh

REPO = Path(__file__).resolve().parents[1]
PIPELINE_FILES = ["dvc.yaml", "params.yaml", ".dvcignore", "pipelines", "datacheck/demo.py",
                  "datacheck.decisions.yaml"]
TRAIN_EPOCHS = 5

#: One repository, changed test after test, in this order: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("dvc_pipeline"), pytest.mark.slow]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    if shutil.which("dvc", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("dvc is not installed in this environment (make test installs it)")
    root = tmp_path_factory.mktemp("project")
    for name in PIPELINE_FILES:
        src, dst = REPO / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copyfile(src, dst)
    # the train stage runs as it is, for a few epochs: no test reads the model's error, only
    # that each stage runs when it must and writes its outputs (200 epochs: minutes a repro)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["epochs"] = TRAIN_EPOCHS
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@example.invalid")
    sh(root, "git", "config", "user.name", "ci")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "repro")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "baseline")
    return root


def stage_lock(root: Path) -> dict:
    return yaml.safe_load((root / "dvc.lock").read_text())["stages"]


def test_repro_produces_reports_and_metrics(project):
    audit = json.loads((project / "reports/audit/metrics.json").read_text())
    assert audit["leakage.pairs"] == 6 and audit["duplicates.exact_clusters"] == 3
    evaluation = json.loads((project / "reports/eval/metrics.json").read_text())
    assert {"error_train", "error_test", "variance", "distribution_shift"} <= set(evaluation)
    changes = (project / "clean/changes.csv").read_text()
    assert changes.count("leakage") == 6  # every leaked test copy dropped
    assert "dvc.lock" in os.listdir(project)
    assert "up to date" in sh(project, "dvc", "status")


def test_audit_param_reruns_only_dependent_stages(project):
    before = stage_lock(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["audit"]["min_per_class"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = sh(project, "dvc", "status")
    assert "audit:" in status and "prepare:" not in status
    log = sh(project, "dvc", "repro")
    assert "Stage 'prepare' didn't change, skipping" in log
    assert "Running stage 'audit'" in log
    after = stage_lock(project)
    assert after["prepare"] == before["prepare"]
    assert after["audit"]["params"] != before["audit"]["params"]
    sh(project, "git", "checkout", "-q", "--", "params.yaml")
    sh(project, "dvc", "repro")


def test_planted_leak_changes_metrics_diff(project):
    data = project / "data"
    source = sorted((data / "train" / "brick").glob("*.jpg"))[0]
    shutil.copyfile(source, data / "test" / "brick" / "planted_leak.jpg")
    # a pull request that adds images to the prepared data: record them as prepare's output,
    # then rebuild what depends on them
    sh(project, "dvc", "commit", "-f", "prepare")
    log = sh(project, "dvc", "repro")
    assert "Running stage 'prepare'" not in log and "Running stage 'audit'" in log
    assert (data / "test" / "brick" / "planted_leak.jpg").exists()
    diff = json.loads(sh(project, "dvc", "metrics", "diff", "--json"))
    changed = diff["reports/audit/metrics.json"]
    assert changed["leakage.pairs"]["diff"] == 1
    assert changed["leakage.exact_pairs"]["diff"] == 1


def test_a_review_decision_reruns_clean_and_training(project):
    """Deciding a leak is fine (`datacheck decide ... --ok`) changes the decisions file: the
    audit, clean, train and evaluate stages run again and clean keeps that image."""
    report = json.loads((project / "reports/audit/report.json").read_text())
    leak = report["checks"]["leakage"]["findings"][0]
    dropped = (project / "clean/changes.csv").read_text().count("leakage")
    sh(project, "datacheck", "decide", "data", leak["id"], "--ok", "--note", "accepted",
       "--cache", ".datacheck-cache", "--no-progress")
    status = sh(project, "dvc", "status")
    assert "audit:" in status and "prepare:" not in status
    log = sh(project, "dvc", "repro")
    for stage in ("audit", "clean", "train", "evaluate"):
        assert f"Running stage '{stage}'" in log
    changes = (project / "clean/changes.csv").read_text()
    assert changes.count("leakage") == dropped - 1 and leak["b"] not in changes
    report = json.loads((project / "reports/audit/report.json").read_text())
    assert report["checks"]["leakage"]["metrics"]["reviewed"] == 1
