import json

from click.testing import CliRunner

from datacheck.cli import cli
from tests.test_pipeline import sh


def test_init_writes_stages_refuses_to_overwrite_and_repro_runs(tmp_path, clean_dataset,
                                                               monkeypatch):
    project = clean_dataset.parent
    monkeypatch.chdir(project)
    runner = CliRunner()
    first = runner.invoke(cli, ["init", clean_dataset.name], catch_exceptions=False)
    assert first.exit_code == 0 and "wrote dvc.yaml" in first.output
    again = runner.invoke(cli, ["init", clean_dataset.name])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert runner.invoke(cli, ["init", clean_dataset.name, "--force"]).exit_code == 0
    assert ".datacheck-cache/" in (project / ".dvcignore").read_text()
    missing = runner.invoke(cli, ["init", "nope"])
    assert missing.exit_code == 2 and "no such dataset" in missing.stderr

    sh(project, "git", "init", "-q")
    sh(project, "dvc", "init", "-q")
    sh(project, "dvc", "repro")
    metrics = json.loads((project / "reports/audit/metrics.json").read_text())
    assert metrics["dataset.images"] == 48 and metrics["leakage.pairs"] == 0
    assert "up to date" in sh(project, "dvc", "status")
