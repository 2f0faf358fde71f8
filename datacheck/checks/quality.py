"""quality: single images a person could not learn from: too dark, too light, blurry, nearly
blank, of an odd size for the dataset, or far outside the rest in colour.

Everything comes from what the scan measured (luminance percentiles and contrast of the 32x32
thumbnail, its edges, the image size). Thresholds were set on CIFAR-10 test and BSDS500 by
looking at the images each one flags, next to cleanvision's (benchmarks/README.md):

- dark: the 99th luminance percentile below ``DARK`` (nothing in the image is lit);
- light: mean luminance at least ``LIGHT`` and the 1st percentile at least ``LIGHT_FLOOR``
  (washed out: even the darkest pixels are light);
- blank: luminance std below ``BLANK`` (2% of the range: a flat field), unless dark;
- blurry: ``edge`` (the steepest edges' gradient over the image's luminance range, see
  :func:`datacheck.features.image_props.thumb_properties`) below ``BLURRY``. Measured on the
  thumbnail, so blur is seen at 32x32: any blur on CIFAR-size images, only heavy blur on
  large photos;
- odd size: the geometric-mean side more than ``ODD_SIZE`` times larger or smaller than the
  dataset's median (with at least ``MIN_IMAGES`` images);
- outlier: a colour mean more than ``OUTLIER_Z`` robust z-scores (median, MAD)
  from the dataset's median (with at least ``MIN_IMAGES`` images; MAD floored at 0.01).
  Saturation is left out: in a dataset of mostly grey photos every colour one is an outlier.

Findings only warn: such images may still be right for the task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import Check, CheckResult, plural, register

DARK = 0.27
LIGHT, LIGHT_FLOOR = 0.9, 0.5
BLANK = 0.02
BLURRY = 0.25
ODD_SIZE = 4.0
OUTLIER_Z = 8.0
MIN_IMAGES = 50
OUTLIER_PROPERTIES = ("mean_r", "mean_g", "mean_b")
KINDS = ("dark", "light", "blank", "blurry", "odd_size", "outlier")
COLUMNS = ["kind", "path", "split", "label", "value", "detail"]


def check_quality(table: pd.DataFrame) -> CheckResult:
    """``table``: scanned rows (blur is judged from their ``edge`` column when it has one)."""
    ok = table[table["problem"].isna()].copy()
    rows = []

    def add(kind, mask, value, detail):
        part = ok[mask]
        vals = value[mask] if isinstance(value, pd.Series) else value
        for (path, split, label), v in zip(part[["path", "split", "label"]].itertuples(
                index=False), np.asarray(vals, dtype=float), strict=True):
            rows.append((kind, path, split, label, round(float(v), 4), detail(v)))

    add("dark", ok["light"] < DARK, ok["light"],
        lambda v: f"too dark: the brightest 1% of pixels reach {v:.0%} of full brightness")
    add("light", (ok["brightness"] >= LIGHT) & (ok["dark"] >= LIGHT_FLOOR), ok["brightness"],
        lambda v: f"washed out: mean brightness {v:.0%}, no dark pixels")
    blank = (ok["contrast"] < BLANK) & (ok["light"] >= DARK)
    add("blank", blank, ok["contrast"],
        lambda v: f"nearly blank: luminance varies by {v:.1%} of the range")
    if "edge" in ok:
        add("blurry", (ok["edge"] < BLURRY) & ~blank, ok["edge"],
            lambda v: f"blurry: steepest edges {v:.2f} of the contrast per pixel "
                      f"(sharp images > {BLURRY})")
    if len(ok) >= MIN_IMAGES:
        side = np.sqrt(ok["width"].astype(float) * ok["height"].astype(float))
        ratio = side / side.median()
        odd = (ratio > ODD_SIZE) | (ratio < 1 / ODD_SIZE)
        add("odd_size", odd, ratio, lambda v: f"{v:.2g}x the dataset's median side")
        for prop in OUTLIER_PROPERTIES:
            x = ok[prop].astype(float)
            mad = 1.4826 * (x - x.median()).abs().median()
            z = (x - x.median()) / max(mad, 0.01)
            add("outlier", z.abs() > OUTLIER_Z, z,
                lambda v, p=prop: f"{p} {v:+.1f} robust z-scores from the dataset's median")
    findings = pd.DataFrame(rows, columns=COLUMNS)
    counts = findings["kind"].value_counts()
    metrics = {"images": len(ok), **{k: int(counts.get(k, 0)) for k in KINDS}}
    metrics["blur_judged"] = int("edge" in ok)
    if len(findings):
        flagged = findings["path"].nunique()
        summary = (f"{plural(flagged, 'image')} hard to learn from: " + ", ".join(
            f"{int(counts[k])} {k.replace('_', ' ')}" for k in KINDS if k in counts))
    else:
        summary = f"no dark, light, blank{', blurry' if 'edge' in ok else ''} or odd images"
    if "edge" not in ok:
        summary += " (blur not judged: the table has no edge measure)"
    return CheckResult("quality", "warn" if len(findings) else "pass", summary, metrics,
                       findings)


register(Check(
    name="quality", title="Image quality", order=15,
    doc="Images too dark, too light, blurry, nearly blank, of odd size or far off in colour.",
    run=lambda ctx: check_quality(ctx.table), kinds=KINDS,
    columns=(("kind", "kind"), ("path", "file"), ("split", "split"), ("label", "class"),
             ("detail", "detail")),
    line=lambda row: f"{row['path']}: {row['detail']}",
))
