import json

import pytest
import yaml
from click.testing import CliRunner

from datacheck.cli import cli
from tests.helpers import require_dvc, sh


@pytest.mark.slow
def test_init_writes_stages_refuses_to_overwrite_and_repro_runs(tmp_path, clean_dataset,
                                                               monkeypatch):
    require_dvc()
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

    # the stage reads every audit param from params.yaml: label_noise's model among them (a
    # linear probe here, where the default cnn would train for ~20 s; nothing below reads it)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["audit"]["model"] = "linear"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(project, "git", "init", "-q")
    sh(project, "dvc", "init", "-q")
    sh(project, "dvc", "repro")
    metrics = json.loads((project / "reports/audit/metrics.json").read_text())
    assert metrics["dataset.images"] == 48 and metrics["leakage.pairs"] == 0
    assert json.loads((project / "reports/audit/report.json").read_text())["settings"][
        "model"] == "linear"  # the stage passed params.yaml's audit params on
    assert "up to date" in sh(project, "dvc", "status")
