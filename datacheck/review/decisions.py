"""The decisions file: one YAML entry per reviewed finding, keyed by the finding's id.

    # datacheck review decisions (datacheck decide / datacheck review); one entry per finding
    decisions:
    - id: leakage-3f2a9c1b2d
      decision: ok                # ok | drop | relabel | move | keep-one
      note: same scene, another photo
      author: Ada Lovelace <ada@example.org>
      date: '2026-12-07'
      images: [9b1c..., 77fe...]  # content digests the fix applies to (stale when all are gone)
      splits: [train, test]       # the split of each, when decided
      paths: [train/cat/1.jpg, test/cat/7.jpg]   # as they were when decided: for people

``relabel`` and ``move`` carry a ``value`` (the label, the split). Entries stay in the order
they were decided, so a pull request's diff shows what was added. The default file is
``datacheck.decisions.yaml`` at the top of the dataset's git repository (beside the dataset
when it is in none).
"""

from __future__ import annotations

import datetime
import logging
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import BadInputError

log = logging.getLogger(__name__)

FILENAME = "datacheck.decisions.yaml"
DECISIONS = ("ok", "drop", "relabel", "move", "keep-one")
#: Decisions that change the data (all but ``ok``).
FIXES = DECISIONS[1:]
HEADER = ("# datacheck review decisions (datacheck decide / datacheck review); one entry per "
          "finding,\n# keyed by its id (content digests): see datacheck/review/decisions.py\n")


@dataclass
class Decision:
    id: str
    decision: str
    value: str | None = None
    note: str = ""
    author: str = ""
    date: str = ""
    images: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def as_entry(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", [])}


def default_path(root: Path) -> Path:
    """``datacheck.decisions.yaml`` at the top of ``root``'s git repository, or beside
    ``root`` (a folder's parent, a manifest's folder) when it is in none."""
    root = root.resolve()
    for probe in (root, *root.parents):
        if (probe / ".git").exists():
            return probe / FILENAME
    return root.parent / FILENAME


def load(path: Path) -> dict[str, Decision]:
    """The decisions in ``path`` by finding id (none when the file does not exist); a later
    entry for the same id wins, with a warning. A malformed file raises BadInputError naming
    the file, the line and what is wrong."""
    if not path.is_file():
        return {}
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise BadInputError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
                            ) from None
    entries = (doc or {}).get("decisions") if isinstance(doc, dict) else None
    if doc is not None and not isinstance(entries, list):
        raise BadInputError(f"{path}:1: expected a 'decisions:' list of entries")
    found: dict[str, Decision] = {}
    for entry in entries or []:
        decision = _parse(path, entry)
        if decision.id in found:
            log.warning("%s:%s: a second decision for %s; the later one wins", path,
                        entry.get("__line__"), decision.id)
            del found[decision.id]
        found[decision.id] = decision
    return found


def save(path: Path, decisions: dict[str, Decision]) -> None:
    """Write ``decisions`` (in their order) to ``path``, replacing it atomically."""
    body = yaml.safe_dump({"decisions": [d.as_entry() for d in decisions.values()]},
                          sort_keys=False, allow_unicode=True, width=100)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(HEADER + body, encoding="utf-8")
    tmp.replace(path)


def author() -> str:
    """``git config user.name <user.email>``, else the login name."""
    def git(key: str) -> str:
        try:
            return subprocess.run(["git", "config", key], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    name, email = git("user.name"), git("user.email")
    if name:
        return f"{name} <{email}>" if email else name
    import getpass

    return getpass.getuser()


def today() -> str:
    return datetime.date.today().isoformat()


def _parse(path: Path, entry) -> Decision:
    line = entry.get("__line__", "?") if isinstance(entry, dict) else "?"
    if not isinstance(entry, dict):
        raise BadInputError(f"{path}: every entry under 'decisions:' must be a mapping")
    where = f"{path}:{line}"
    unknown = sorted(set(entry) - {"__line__", *Decision.__dataclass_fields__})
    if unknown:
        raise BadInputError(f"{where}: unknown key {unknown[0]!r}")
    if not isinstance(entry.get("id"), str) or "-" not in entry["id"]:
        raise BadInputError(f"{where}: 'id' must be a finding id such as leakage-3f2a9c1b2d")
    kind = entry.get("decision")
    if kind not in DECISIONS:
        raise BadInputError(f"{where}: 'decision' must be one of {', '.join(DECISIONS)} "
                            f"(got {kind!r})")
    value = entry.get("value")
    if kind in ("relabel", "move") and (value is None or str(value) == ""):
        raise BadInputError(f"{where}: '{kind}' needs a 'value' (the new "
                            f"{'label' if kind == 'relabel' else 'split'})")
    lists = {}
    for key in ("images", "splits", "paths"):
        items = entry.get(key) or []
        if not isinstance(items, list):
            raise BadInputError(f"{where}: '{key}' must be a list")
        lists[key] = [str(v) for v in items]
    return Decision(id=entry["id"], decision=kind, value=None if value is None else str(value),
                    note=str(entry.get("note") or ""), author=str(entry.get("author") or ""),
                    date=str(entry.get("date") or ""), **lists)


class _LineLoader(yaml.SafeLoader):
    """Safe loading that records each mapping's line (``__line__``) for error messages."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping
