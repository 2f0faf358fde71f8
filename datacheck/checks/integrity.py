"""integrity: files that cannot be used, and images that are odd next to the rest."""

from __future__ import annotations

import pandas as pd

from . import Check, CheckResult, plural, register, worst

#: Images with a side below this many pixels are reported as tiny.
MIN_SIDE = 16
#: Width/height (or height/width) above this is reported as an extreme aspect ratio.
MAX_ASPECT = 4.0


def check_integrity(table: pd.DataFrame, *, min_side: int = MIN_SIDE,
                    max_aspect: float = MAX_ASPECT) -> CheckResult:
    """Unreadable files fail; tiny, extreme-aspect and minority-mode images warn.

    Findings: ``kind`` (unreadable, tiny, aspect, mode), ``path`` and the ``problem`` in words.
    """
    bad = table[table["problem"].notna()]
    rows = [("unreadable", p, str(why)) for p, why in
            zip(bad["path"], bad["problem"], strict=False)]
    ok = table[table["problem"].isna()]
    side = ok[["width", "height"]].min(axis=1)
    tiny = ok[side < min_side]
    rows += [("tiny", p, f"tiny image ({w}x{h})") for p, w, h in
             zip(tiny["path"], tiny["width"], tiny["height"], strict=False)]
    long_side = ok[["width", "height"]].max(axis=1)
    aspect = long_side / side.clip(lower=1)
    odd = ok[(aspect > max_aspect) & (side >= min_side)]
    rows += [("aspect", p, f"extreme aspect ratio ({w}x{h})") for p, w, h in
             zip(odd["path"], odd["width"], odd["height"], strict=False)]
    modes = ok["mode"].value_counts()
    minority = []
    if len(modes) > 1:
        common = modes.index[0]
        minority = ok[ok["mode"] != common]
        rows += [("mode", p, f"colour mode {m} (most images are {common})") for p, m in
                 zip(minority["path"], minority["mode"], strict=False)]
    findings = pd.DataFrame(rows, columns=["kind", "path", "problem"])
    metrics = {
        "images": len(table),
        "unreadable": len(bad),
        "tiny": len(tiny),
        "extreme_aspect": len(odd),
        "minority_mode": len(minority),
        "modes": len(modes),
    }
    status = worst("fail" if len(bad) else "pass", "warn" if len(findings) > len(bad) else "pass")
    if len(bad):
        summary = f"{plural(len(bad), 'file')} cannot be used (corrupt, truncated or not images)"
    elif len(findings):
        summary = f"{plural(len(findings), 'image')} look odd (tiny, extreme aspect or mode)"
    else:
        summary = f"all {len(table):,} images decode"
    return CheckResult("integrity", status, summary, metrics, findings)


register(Check(
    name="integrity", title="Integrity", order=10, shape="files",
    doc="Unreadable, truncated and non-image files; tiny, odd-aspect and minority-mode images.",
    run=lambda ctx: check_integrity(ctx.table),
    columns=(("path", "file"), ("problem", "problem")),
    line=lambda row: f"{row['path']}: {row['problem']}",
    severity=lambda row: "fail" if row["kind"] == "unreadable" else "warn",
))
