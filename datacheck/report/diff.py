"""What a change to a dataset introduced or removed: the difference of two audit reports.

``diff_reports(base, head)`` takes two ``AuditReport.to_dict()`` dicts (schema
``datacheck.audit/1``) and returns a ``datacheck.diff/1`` dict;
``diff_markdown.render_diff_markdown`` turns it into a pull-request comment and ``has_new``
answers ``--fail-on new-leakage``.

Identities: a finding is matched across the two reports by what it is about, not by its place
in the list. Each check's spec says whether and how (``Check.shape`` and ``Check.nouns``, see
:data:`datacheck.checks.SHAPES`); diff compares findings of the shapes that it can match:

- An image is identified by its content digest when the findings of that check carry digests
  in *both* reports (``digest_a``/``digest_b`` on pairs, ``digests`` beside ``paths`` on
  clusters, ``digest`` on images), so a renamed or moved file is not a new finding. Audits
  write them; a report from before they did falls back to paths relative to the dataset root
  (a renamed file then shows as one finding removed and one added). Each section of the diff
  names the identity it used (``"identity": "digest" | "path"``).
- Given the two per-image tables (``images.parquet`` beside each report.json), the diff also
  has a ``data`` section: what the change did to the images themselves (added, removed,
  modified, renamed, relabelled, moved between splits, regrouped; :mod:`history.versions`).
- ``pairs`` (leaks): the unordered pair of its two images (plus the kind ``group`` and the
  group name for group leaks, whose pair of files is only an example). A change of kind
  (exact -> near) or distance is not a new finding. Identical pairs are counted as a
  multiset, so two leaks of one content digest stay two.
- ``clusters`` (duplicates): matched to the cluster of the same split that shares the most
  member images; unmatched clusters are added or removed, matched ones whose members changed
  are ``changed`` with the members that ``joined`` and ``left``.
- ``images`` (label issues): the image plus its given label (a new suggestion for the same
  image and label is the same issue).

A check present in only one report is not compared (``"compared": false`` with the reason):
nothing is reported new or removed for it, and :func:`has_new` is false for it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from .. import checks as registry
from ..errors import BadInputError

SCHEMA = "datacheck.diff/1"
AUDIT_SCHEMA = "datacheck.audit/1"


# -- diff ---------------------------------------------------------------------------------------

def diff_reports(base: dict[str, Any], head: dict[str, Any], *,
                 images: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """The ``datacheck.diff/1`` difference between two ``datacheck.audit/1`` report dicts;
    ``images`` = (base, head) per-image tables (or None for a side that has none) adds the
    ``data`` section."""
    for name, report in (("base", base), ("head", head)):
        if not isinstance(report, dict) or report.get("schema") != AUDIT_SCHEMA:
            found = report.get("schema") if isinstance(report, dict) else type(report).__name__
            raise BadInputError(f"{name} report: expected schema {AUDIT_SCHEMA!r}, found "
                                f"{found!r} (give the report.json written by datacheck audit)")
    bchecks, hchecks = base.get("checks") or {}, head.get("checks") or {}
    names = list(dict.fromkeys([*bchecks, *hchecks]))
    settings = {}
    bset, hset = base.get("settings") or {}, head.get("settings") or {}
    for key in dict.fromkeys([*bset, *hset]):
        if bset.get(key) != hset.get(key):
            settings[key] = {"base": bset.get(key), "head": hset.get(key)}
    return {
        "schema": SCHEMA,
        "base": _side(base),
        "head": _side(head),
        "settings": settings,
        "checks": {n: {"base_status": (bchecks.get(n) or {}).get("status"),
                       "head_status": (hchecks.get(n) or {}).get("status")} for n in names},
        **{name: _compare(bchecks, hchecks, name, check.shape)
           for name, check in registry.compared().items()},
        "split_counts": _changes(
            {(s,): n for s, n in ((base.get("dataset") or {}).get("splits") or {}).items()},
            {(s,): n for s, n in ((head.get("dataset") or {}).get("splits") or {}).items()},
            ("split",)),
        "class_counts": _class_counts(bchecks, hchecks),
        **({} if images is None else {"data": _data(*images)}),
        **_diff_decisions(base.get("review"), head.get("review")),
    }


def _diff_decisions(base: dict | None, head: dict | None) -> dict[str, Any]:
    """The review decisions a change added, changed or removed (nothing when neither report
    read a decisions file)."""
    if base is None and head is None:
        return {}
    old = {e["id"]: e for e in (base or {}).get("entries") or []}
    new = {e["id"]: e for e in (head or {}).get("entries") or []}
    return {"decisions": {
        "added": [e for i, e in new.items() if i not in old],
        "changed": [{"id": i, "base": old[i], "head": e} for i, e in new.items()
                    if i in old and old[i] != e],
        "removed": [e for i, e in old.items() if i not in new]}}


def _data(base_images, head_images) -> dict[str, Any]:
    from ..history.versions import diff_images, not_compared

    missing = [side for side, t in (("base", base_images), ("head", head_images)) if t is None]
    if missing:
        return not_compared(f"no images.parquet beside the {' and '.join(missing)} report")
    return diff_images(base_images, head_images)


def has_new(diff: dict[str, Any], kind: str) -> bool:
    """True when ``diff`` has new findings of ``kind`` (a check that diff compares, e.g.
    leakage; a ``new-`` prefix and ``-`` for ``_`` are accepted, so ``new-leakage`` works).
    Duplicate clusters that gained members count as new; findings decided ``ok`` in the head's
    review decisions do not."""
    key = kind.removeprefix("new-").replace("-", "_")
    if key == "label_issues":
        key = "label_noise"
    kinds = registry.compared()
    if key not in kinds:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(kinds)}")
    part = diff.get(key) or {}
    if any(r.get("review") != "ok" for r in part.get("added") or []):
        return True
    return any(c.get("joined") and c.get("review") != "ok" for c in part.get("changed") or [])


def _side(report: dict[str, Any]) -> dict[str, Any]:
    ds = report.get("dataset") or {}
    return {"root": ds.get("root"), "status": report.get("status"), "images": ds.get("images"),
            "splits": ds.get("splits") or {}, "classes": ds.get("classes")}


def _compare(bchecks: dict, hchecks: dict, name: str, shape: str) -> dict[str, Any]:
    missing = [side for side, checks in (("base", bchecks), ("head", hchecks))
               if name not in checks]
    if missing:
        empty: dict[str, Any] = {"compared": False, "identity": None, "added": [],
                                 "removed": []}
        if shape == "clusters":
            empty["changed"] = []
        if len(missing) == 2:
            empty["reason"] = "in neither report"
        else:
            empty["reason"] = f"not in the {missing[0]} report"
        return empty
    match = MATCHERS[shape]
    return {"compared": True, **match(list(bchecks[name].get("findings") or []),
                                      list(hchecks[name].get("findings") or []))}


def _all_have(rows: list[dict], *keys: str) -> bool:
    return all(all(r.get(k) for k in keys) for r in rows)


def _multiset_diff(base: list[dict], head: list[dict],
                   key: Callable[[dict], Hashable]) -> tuple[list[dict], list[dict]]:
    """(rows of head beyond base's count of their key, rows of base beyond head's), in order."""
    bcount = Counter(key(r) for r in base)
    hcount = Counter(key(r) for r in head)
    added, removed = [], []
    seen: Counter = Counter()
    for r in head:
        k = key(r)
        seen[k] += 1
        if seen[k] > bcount[k]:
            added.append(r)
    seen.clear()
    for r in base:
        k = key(r)
        seen[k] += 1
        if seen[k] > hcount[k]:
            removed.append(r)
    return added, removed


def _diff_pairs(base: list[dict], head: list[dict]) -> dict[str, Any]:
    copies = [r for r in base + head if r.get("kind") != "group"]
    by_digest = _all_have(copies, "digest_a", "digest_b")  # (no copies: nothing to tell)
    a_key, b_key = ("digest_a", "digest_b") if by_digest else ("a", "b")

    def key(r: dict) -> Hashable:
        if r.get("kind") == "group":
            return ("group", _hashable(r.get("group")),
                    frozenset((r.get("split_a"), r.get("split_b"))))
        pair = (_hashable(r.get(a_key)), _hashable(r.get(b_key)))
        return ("copy", tuple(sorted(pair, key=repr)))

    added, removed = _multiset_diff(base, head, key)
    return {"identity": "digest" if by_digest else "path", "added": added, "removed": removed}


def _diff_clusters(base: list[dict], head: list[dict]) -> dict[str, Any]:
    by_digest = all(
        isinstance(r.get("digests"), list) and len(r["digests"]) == len(r.get("paths") or [])
        and all(r["digests"]) for r in base + head)

    def members(r: dict) -> Counter:
        ids = r["digests"] if by_digest else (r.get("paths") or [])
        return Counter(_hashable(x) for x in ids)

    bm = [members(r) for r in base]
    hm = [members(r) for r in head]
    candidates = []
    for i, rb in enumerate(base):
        for j, rh in enumerate(head):
            if rb.get("split") != rh.get("split"):
                continue
            overlap = sum((bm[i] & hm[j]).values())
            if overlap:
                candidates.append((-overlap, i, j))
    matched_b, matched_h, pairs = set(), set(), []
    for _, i, j in sorted(candidates):
        if i not in matched_b and j not in matched_h:
            matched_b.add(i)
            matched_h.add(j)
            pairs.append((i, j))
    changed = []
    for i, j in sorted(pairs, key=lambda p: p[1]):
        rb, rh = base[i], head[j]
        if bm[i] == hm[j] and bool(rb.get("label_conflict")) == bool(rh.get("label_conflict")):
            continue
        joined = _excess(rh, hm[j] - bm[i], rb, by_digest)
        left = _excess(rb, bm[i] - hm[j], rh, by_digest)
        changed.append({**rh, "joined": joined, "left": left,
                        "base_label_conflict": bool(rb.get("label_conflict"))})
    return {
        "identity": "digest" if by_digest else "path",
        "added": [r for j, r in enumerate(head) if j not in matched_h],
        "removed": [r for i, r in enumerate(base) if i not in matched_b],
        "changed": changed,
    }


def _excess(row: dict, extra: Counter, other: dict, by_digest: bool) -> list[str]:
    """Paths of ``row`` whose identities are in ``extra`` (preferring paths ``other`` lacks)."""
    paths = list(row.get("paths") or [])
    ids = row["digests"] if by_digest else paths
    other_paths = set(map(_hashable, other.get("paths") or []))
    need = Counter(extra)
    out = []
    for prefer_new in (True, False):
        for p, x in zip(paths, ids, strict=False):
            x = _hashable(x)
            if need[x] > 0 and (not prefer_new or _hashable(p) not in other_paths) \
                    and p not in out:
                out.append(p)
                need[x] -= 1
    return out


def _diff_images(base: list[dict], head: list[dict]) -> dict[str, Any]:
    singles = [r for r in base + head if "path" in r]
    by_digest = _all_have(singles, "digest")

    def key(r: dict) -> Hashable:
        if "path" in r:
            return ("image", _hashable(r["digest"] if by_digest else r["path"]),
                    _hashable(r.get("given")))
        if isinstance(r.get("paths"), list):
            return ("group", r.get("kind"), frozenset(map(_hashable, r["paths"])))
        return ("row", json.dumps(r, sort_keys=True, default=str))

    added, removed = _multiset_diff(base, head, key)
    return {"identity": "digest" if by_digest else "path", "added": added, "removed": removed}


#: How findings of each shape (:class:`datacheck.checks.Compared`) are matched.
MATCHERS: dict[str, Callable[[list, list], dict[str, Any]]] = {
    "pairs": _diff_pairs, "clusters": _diff_clusters, "images": _diff_images}


def _class_counts(bchecks: dict, hchecks: dict) -> list[dict[str, Any]]:
    """Class counts that changed, from the check whose findings are ``counts`` (balance)."""
    name = next((n for n, c in registry.registry().items() if c.shape == "counts"), None)
    bc = ((bchecks.get(name) or {}).get("details") or {}).get("counts")
    hc = ((hchecks.get(name) or {}).get("details") or {}).get("counts")
    if bc is None or hc is None:
        return []
    flat = [{(s, lab): n for s, per in counts.items() for lab, n in per.items()}
            for counts in (bc, hc)]
    return _changes(flat[0], flat[1], ("split", "label"))


def _changes(base: dict[tuple, int], head: dict[tuple, int],
             names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows for keys whose value differs (a key missing on one side counts as 0 there)."""
    rows = []
    for key in dict.fromkeys([*base, *head]):
        b, h = base.get(key, 0) or 0, head.get(key, 0) or 0
        if b != h:
            rows.append({**dict(zip(names, key, strict=True)), "base": b, "head": h,
                         "change": h - b})
    return rows


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


# -- Markdown -----------------------------------------------------------------------------------
