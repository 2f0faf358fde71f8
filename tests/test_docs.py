"""The docs are reference: every module, file and name they cite exists, every relative link
resolves, and the README stays short."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import datacheck

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "DESIGN.md", ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").rglob("*.md"))]
CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
FILE = re.compile(r"^(?:datacheck|pipelines|benchmarks|tests|docs|\.ci)/[\w./-]*$|"
                  r"^[\w-]+/[\w./-]+\.(?:py|md|yaml|sh)$")
NAME = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+$")
DATA_FILE = re.compile(r"\.(?:parquet|html|yaml|json|sqlite|corrupt|md|csv|lock)$")


def _modules() -> dict[str, list[str]]:
    """Short name -> dotted names of every module and package of datacheck: ``models`` ->
    ``datacheck.learning.models``, ``learning.models`` -> the same."""
    names: dict[str, list[str]] = {"datacheck": ["datacheck"]}
    for info in pkgutil.walk_packages(datacheck.__path__, "datacheck."):
        parts = info.name.split(".")
        for k in range(1, len(parts)):
            names.setdefault(".".join(parts[k:]), []).append(info.name)
        names.setdefault(info.name, []).append(info.name)
    return names


MODULES = _modules()


def _resolves(token: str) -> bool:
    """``a.b.c``: some split into a module of datacheck and attributes it has."""
    parts = token.split(".")
    for cut in range(len(parts), 0, -1):
        for module in MODULES.get(".".join(parts[:cut]), []):
            obj = importlib.import_module(module)
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
                return True
            except AttributeError:
                continue
    return False


@functools.cache
def _project_file_names() -> set[str]:
    """Names of the files git tracks or would track: where a module file a doc names
    (``copies.py``) may live. Not a walk of the tree: .venv and benchmark data are slow to
    walk, and folders other tests create and delete meanwhile (.hypothesis/tmp) break it."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {Path(line).name for line in listed.splitlines()}


def _cites(path: Path):
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for token in CODE.findall(line):
            token = token.strip()
            head = re.split(r"[(\[ =]", token, maxsplit=1)[0].rstrip(":,")
            if FILE.match(head):
                yield n, "file", head
            elif re.match(r"^\w+\.py$", head):
                yield n, "module file", head
            elif NAME.match(head) and head.split(".")[0] in MODULES and \
                    not DATA_FILE.search(head):
                yield n, "name", head
        for target in LINK.findall(line):
            if not re.match(r"^[a-z]+:", target):
                yield n, "link", target


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_what_the_docs_cite_exists(doc):
    missing = []
    for n, kind, token in _cites(doc):
        if kind == "link":
            ok = (doc.parent / token).exists()
        elif kind == "file":
            ok = any((base / token).exists() for base in (ROOT, ROOT / "datacheck"))
        elif kind == "module file":
            ok = token in _project_file_names()
        else:
            ok = _resolves(token)
        if not ok:
            missing.append(f"{doc.name}:{n}: {kind} {token}")
    assert not missing, "\n".join(missing)


def test_the_checker_flags_what_does_not_exist(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("`similar.CopyOptions` `copies.CopyOptions` `datacheck/nowhere.py` "
                   "`report/html.py` [a](missing.md) `np.float32` `nowhere.py` `diff.html`\n")
    cited = list(_cites(doc))
    assert [t for _, k, t in cited if k == "name"] == ["similar.CopyOptions",
                                                       "copies.CopyOptions"]
    assert not _resolves("similar.CopyOptions") and _resolves("copies.CopyOptions")
    assert _resolves("report.load_report") and _resolves("cli.main")
    assert [t for _, k, t in cited if k == "file"] == ["datacheck/nowhere.py", "report/html.py"]
    assert [t for _, k, t in cited if k == "link"] == ["missing.md"]
    assert [t for _, k, t in cited if k == "module file"] == ["nowhere.py"]


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
