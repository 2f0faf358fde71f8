"""clean: apply the audit to the data without touching a file.

Writes ``clean/manifest.csv`` (path,label,split,group; paths relative to data/) for the train
stage, and ``clean/changes.csv`` saying what was dropped or moved and why:
- unreadable files are dropped;
- leakage: ``drop`` removes the copy from the later split, ``move`` puts it in the earlier one
  (group leaks: every image of the group in the later split);
- duplicates: ``keep_one`` keeps the first image of each cluster; clusters whose labels
  disagree are dropped whole (no label can be trusted);
- label_noise (when audited): ``drop`` or ``relabel`` findings whose score is at most
  ``label_noise_max_score`` (low score = likely wrong), ``keep`` leaves them.

Reviewed findings (``datacheck decide``, the decisions file the audit read) come first: a fix
decided for a finding (drop, relabel, move, keep one) replaces the policy above, and a finding
decided ``ok`` is left alone. The policies apply to the findings nobody reviewed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from params import CACHE, load_params  # noqa: E402

import datacheck  # noqa: E402
from datacheck import load_dataset, load_report  # noqa: E402
from datacheck.review import decisions as decided  # noqa: E402
from datacheck.review.fixes import CHANGE_COLUMNS, apply_fixes  # noqa: E402


def plan_changes(table: pd.DataFrame, report: dict, params: dict) -> pd.DataFrame:
    """One row per change: path, action (drop|move|relabel), value, reason, for the findings
    no decision covers."""
    checks = {name: {**check, "findings": [f for f in check.get("findings", [])
                                           if not f.get("review")]}
              for name, check in report["checks"].items()}
    changes = []
    for f in checks.get("integrity", {}).get("findings", []):
        if f["kind"] == "unreadable":  # tiny, odd-aspect and minority-mode images are usable
            changes.append((f["path"], "drop", None, f"integrity: {f['problem']}"))
    policy = params.get("leakage", "drop")
    for f in checks.get("leakage", {}).get("findings", []):
        if f["kind"] == "group":
            members = table[(table["group"] == f["group"]) & (table["split"] == f["split_b"])]
            targets = members["path"].tolist()
        else:
            targets = [f["b"]]
        for path in targets:
            reason = f"leakage ({f['kind']}) with {f['a']} in {f['split_a']}"
            changes.append((path, "move", f["split_a"], reason) if policy == "move"
                           else (path, "drop", None, reason))
    if params.get("duplicates", "keep_one") == "keep_one":
        for f in checks.get("duplicates", {}).get("findings", []):
            doomed = f["paths"] if f.get("label_conflict") else f["paths"][1:]
            why = "labels disagree" if f.get("label_conflict") else f"copy of {f['paths'][0]}"
            changes += [(p, "drop", None, f"duplicates: {why}") for p in doomed]
    noise_policy = params.get("label_noise", "keep")
    max_score = float(params.get("label_noise_max_score", 0.1))
    for f in checks.get("label_noise", {}).get("findings", []):
        if noise_policy == "keep" or f.get("score") is None or f["score"] > max_score:
            continue
        why = f"label_noise: given {f['given']}, suggested {f['suggested']}"
        changes.append((f["path"], "relabel", f["suggested"], why) if noise_policy == "relabel"
                       else (f["path"], "drop", None, why))
    frame = pd.DataFrame(changes, columns=CHANGE_COLUMNS)
    return frame.drop_duplicates("path", keep="first").reset_index(drop=True)


def decided_changes(data: str, report: dict) -> pd.DataFrame:
    """The fixes decided in the decisions file the audit read (none without one)."""
    file = (report.get("review") or {}).get("file")
    fixes = {i: d for i, d in decided.load(Path(file)).items()
             if d.decision in decided.FIXES} if file else {}
    if not fixes:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    images = datacheck.audit(data, checks=["integrity"], cache_dir=CACHE, progress=False).images
    return apply_fixes(images, fixes)[1]


def apply_changes(table: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    out = table.set_index("path")
    for row in changes.itertuples():
        if row.path not in out.index:
            continue
        if row.action == "move":
            out.loc[row.path, "split"] = row.value
        elif row.action == "relabel":
            out.loc[row.path, "label"] = row.value
    dropped = changes.loc[changes["action"] == "drop", "path"]
    return out.drop(index=[p for p in dropped if p in out.index]).reset_index()


def main() -> None:
    params, every = load_params("clean")
    data = every.get("prepare", {}).get("out", "data")
    report = load_report(Path(every.get("audit", {}).get("out", "reports/audit"),
                              "report.json")).to_dict()
    table = load_dataset(data).table
    changes = pd.concat([decided_changes(data, report), plan_changes(table, report, params)])
    changes = changes.drop_duplicates("path", keep="first").reset_index(drop=True)
    clean = apply_changes(table, changes)
    out = Path(params.get("out", "clean"))
    out.mkdir(parents=True, exist_ok=True)
    clean[["path", "label", "split", "group"]].to_csv(out / "manifest.csv", index=False)
    changes.to_csv(out / "changes.csv", index=False)
    counts = changes["action"].value_counts().to_dict()
    print(f"clean: {len(clean)} of {len(table)} images kept; changes {counts}")


if __name__ == "__main__":
    main()
