"""The package's one-way data flow (pyproject's import-linter contract) and its size rule."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "datacheck"


def test_import_contract_holds():
    lint = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout


def test_contract_sees_imports_inside_functions():
    # label_noise imports the models inside run(): the contract must see that edge, or a
    # function-level import could break the flow unseen
    graph = grimp.build_graph("datacheck", cache_dir=None)
    details = graph.get_import_details(importer="datacheck.checks.label_noise",
                                       imported="datacheck.learning.models")
    source = (PACKAGE / "checks" / "label_noise.py").read_text().splitlines()
    inside = [d for d in details if source[d["line_number"] - 1].startswith((" ", "\t"))]
    assert inside, details


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
