"""The check registry and grouped options: a new check is one module plus ``register``."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from datacheck import BadInputError, Check, CheckResult, CopyOptions, Skip, audit, register
from datacheck.checks import REGISTRY, registry
from datacheck.cli import cli
from datacheck.report.markdown import render_markdown
from datacheck.report.text import print_summary
from tests.helpers import NO_MODEL


def _grey_images(ctx) -> CheckResult:
    """Toy check: images whose colour mode is L (found from the scanned table only)."""
    grey = ctx.table[ctx.table["mode"] == "L"]
    if ctx.table["problem"].notna().all():
        raise Skip("no readable image")
    findings = pd.DataFrame({"kind": "grey", "path": grey["path"].to_numpy()})
    status = "warn" if len(findings) else "pass"
    return CheckResult("grey", status, f"{len(findings)} grey images", {"grey": len(findings)},
                       findings)


@pytest.fixture
def toy_check():
    register(Check(name="grey", title="Grey images", order=70, run=_grey_images,
                   doc="Images stored as greyscale.",
                   columns=(("path", "greyscale file"),), line=lambda r: f"grey: {r['path']}",
                   default=False))
    yield
    REGISTRY.pop("grey")


def test_a_registered_check_runs_and_renders_everywhere(toy_check, clean_dataset, tmp_path):
    target = clean_dataset / "train" / "a" / "grey.png"
    Image.new("L", (64, 64), 90).save(target)
    assert list(registry())[-1] == "grey"  # report order from the spec
    default = audit(clean_dataset, cache_dir=tmp_path / "c", progress=False,
                    checks=["integrity"])
    assert "grey" not in default.checks
    report = audit(clean_dataset, checks=["grey", "integrity"], cache_dir=tmp_path / "c",
                   progress=False)
    data = report.to_dict()
    assert list(data["checks"]) == ["integrity", "grey"]
    (finding,) = data["checks"]["grey"]["findings"]
    assert finding == {"id": finding["id"], "kind": "grey", "path": "train/a/grey.png"}
    assert finding["id"].startswith("grey-")  # a stable id for a third-party check too
    markdown = render_markdown(data)
    assert "| greyscale file |" in markdown and "train/a/grey\\.png" in markdown
    from rich.console import Console
    console = Console(record=True, width=200)
    print_summary(data, console)
    assert "grey: train/a/grey.png" in console.export_text()
    result = CliRunner().invoke(cli, ["audit", str(clean_dataset), "--checks", "grey",
                                      "--cache", str(tmp_path / "c"), "--fail-on", "grey",
                                      "--format", "json", "--no-progress"])
    assert result.exit_code == 0, result.output  # warn is not fail
    assert json.loads(result.stdout)["checks"]["grey"]["status"] == "warn"
    html = report.to_html(data)
    assert 'id="grey"' in html and "Grey images" in html


def test_option_groups_and_keyword_shortcuts_agree(clean_dataset, tmp_path):
    by_group = audit(clean_dataset, checks=["leakage"], cache_dir=tmp_path / "c",
                     progress=False, copies=CopyOptions(threshold=4, min_similarity=0.8))
    by_dict = audit(clean_dataset, checks=["leakage"], cache_dir=tmp_path / "c",
                    progress=False, copies={"threshold": 4, "min_similarity": 0.8})
    by_keyword = audit(clean_dataset, checks=["leakage"], cache_dir=tmp_path / "c",
                       progress=False, threshold=4, min_similarity=0.8)
    settings = [r.to_dict()["settings"] for r in (by_group, by_dict, by_keyword)]
    assert settings[0] == settings[1] == settings[2]
    assert settings[0]["threshold"] == 4 and settings[0]["min_similarity"] == 0.8
    assert "min_per_class" not in settings[0]  # only the groups of the checks that ran


@pytest.mark.parametrize("kwargs, message", [
    ({"treshold": 4}, "unknown audit option 'treshold'"),
    ({"threshold": 40}, "--threshold 40 is out of range"),
    ({"model": "resnet"}, "--model 'resnet': choose one of cnn, mlp, linear"),
    ({"copies": {"radius": 3}}, "unknown CopyOptions option 'radius'"),
    ({"checks": ["leakage", "nope"]}, "unknown check 'nope'"),
])
def test_bad_options_are_one_line_errors(clean_dataset, tmp_path, kwargs, message):
    with pytest.raises(BadInputError, match=message):
        audit(clean_dataset, cache_dir=tmp_path / "c", progress=False,
              **{"checks": NO_MODEL, **kwargs})


def test_cli_flags_come_from_the_option_groups():
    result = CliRunner().invoke(cli, ["audit", "--help"])
    for flag in ("--threshold", "--min-similarity", "--min-per-class", "--folds", "--alpha",
                 "--hash", "--workers", "--cache", "--between"):
        assert flag in result.output
    bad = CliRunner().invoke(cli, ["leakage", ".", "--threshold", "99"])
    assert bad.exit_code == 2 and "--threshold 99 is out of range" in bad.stderr
