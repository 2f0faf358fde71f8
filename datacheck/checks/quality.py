"""quality: single images a person could not learn from: too dark, washed out, blurry,
upscaled, nearly blank, of an odd size for the dataset, or far outside the rest in colour.

Everything comes from what the scan measured: luminance percentiles and contrast of the 32x32
thumbnail, the image size, and its detail at its own resolution
(:mod:`datacheck.features.detail`). Thresholds were set on CIFAR-10 test and BSDS500 with
planted images (``benchmarks/quality.py``), by looking at what each one flags:

- dark: the 99th luminance percentile below ``DARK`` (nothing in the image is lit);
- light (unless blank): the 1st percentile at least ``LIGHT_FLOOR`` (washed out: even the
  darkest pixels are light), or a mean of at least ``LIGHT`` with the 1st percentile at least
  ``LIGHT_FLOOR_BRIGHT``;
- blank: luminance std below ``BLANK`` (2% of the range: a flat field), unless dark;
- blurry: on images whose longer side is at least ``MIN_SIDE`` px, ``fine_edge`` (edge
  steepness at the working scale) below ``BLURRY_FINE``: the sharpest edges spread like a
  Gaussian blur of sigma >= 4.4 px, visible at 100% zoom (sharp photos: under 2 px). On
  smaller images, whose thumbnail shows every pixel, the thumbnail's ``edge`` below ``BLURRY``;
- upscaled: not blurry, and edges ``UPSCALED`` or more times steeper at a quarter of the working
  scale (``detail_ratio``): the real detail ends well above the pixel size, as in an image blown
  up 4x from a smaller one. A 2x upscale of a very sharp image can reach it too;
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

from ..features.detail import MIN_SIDE, working_reduction
from . import Check, CheckResult, plural, register

DARK = 0.27
LIGHT_FLOOR = 0.6
LIGHT, LIGHT_FLOOR_BRIGHT = 0.9, 0.5
BLANK = 0.02
BLURRY = 0.25
BLURRY_FINE = 0.09
#: A step edge blurred by a Gaussian of sigma s px rises by 1 / (s sqrt(2 pi)) of its contrast
#: per px: the sigma a ``fine_edge`` stands for is EDGE_SPREAD / fine_edge.
EDGE_SPREAD = 1 / np.sqrt(2 * np.pi)
UPSCALED = 2.8
ODD_SIZE = 4.0
OUTLIER_Z = 8.0
MIN_IMAGES = 50
OUTLIER_PROPERTIES = ("mean_r", "mean_g", "mean_b")
KINDS = ("dark", "light", "blank", "blurry", "upscaled", "odd_size", "outlier")
COLUMNS = ["kind", "path", "split", "label", "value", "detail"]


def _blur(ok: pd.DataFrame, blank: pd.Series, add) -> None:
    """The blurry and upscaled findings (see the module's docstring)."""
    if "fine_edge" in ok:
        large = np.maximum(ok["width"], ok["height"]) >= MIN_SIDE
        fine, ratio = ok["fine_edge"].astype(float), ok["detail_ratio"].astype(float)
    else:  # a table scanned without the detail measures: the thumbnail judges every image
        large = pd.Series(False, ok.index)
        fine = ratio = pd.Series(np.nan, ok.index)
    soft = ok[large & ((fine < BLURRY_FINE) | (ratio >= UPSCALED))]  # the only ones named
    working = pd.Series([f"{-(-w // r)}x{-(-h // r)}" for w, h, r in zip(
        soft["width"], soft["height"], map(working_reduction, soft["width"], soft["height"]),
        strict=True)], index=soft.index, dtype=object).reindex(ok.index)
    small_blur = ~large & (ok["edge"] < BLURRY) & ~blank
    add("blurry", small_blur, ok["edge"],
        lambda v: f"blurry: steepest edges {v:.2f} of the contrast per pixel "
                  f"(sharp images > {BLURRY})")
    large_blur = large & (fine < BLURRY_FINE) & ~blank
    add("blurry", large_blur, fine,
        lambda v, at: f"blurry: its sharpest edges spread over ~{EDGE_SPREAD / v:.0f} px at "
                      f"{at} (sharp photos: under {EDGE_SPREAD / 0.2:.0f} px; flagged from "
                      f"{EDGE_SPREAD / BLURRY_FINE:.1f} px)", working)
    add("upscaled", ~large_blur & ~small_blur & (ratio >= UPSCALED) & ~blank, ratio,
        lambda v, at: f"upscaled: edges {v:.1f}x steeper at a quarter of {at}, so its detail "
                      f"ends well above its pixel size (photos < {UPSCALED}x)", working)


def check_quality(table: pd.DataFrame) -> CheckResult:
    """``table``: scanned rows (blur is judged from their ``fine_edge`` and ``edge`` columns
    when it has them)."""
    ok = table[table["problem"].isna()].copy()
    rows = []

    def add(kind, mask, value, detail, context=None):
        """Findings of one kind: ``detail(value)``, or ``detail(value, context)``."""
        mask = mask.fillna(False).astype(bool)
        part = ok[mask]
        vals = np.asarray(value[mask] if isinstance(value, pd.Series) else value, dtype=float)
        extra = [None] * len(part) if context is None else list(context[mask])
        for (path, split, label), v, c in zip(part[["path", "split", "label"]].itertuples(
                index=False), vals, extra, strict=True):
            text = detail(v) if context is None else detail(v, c)
            rows.append((kind, path, split, label, round(float(v), 4), text))

    add("dark", ok["light"] < DARK, ok["light"],
        lambda v: f"too dark: the brightest 1% of pixels reach {v:.0%} of full brightness")
    blank = (ok["contrast"] < BLANK) & (ok["light"] >= DARK)
    light = ~blank & ((ok["dark"] >= LIGHT_FLOOR) | ((ok["brightness"] >= LIGHT)
                                                     & (ok["dark"] >= LIGHT_FLOOR_BRIGHT)))
    add("light", light, ok["dark"],
        lambda v: f"washed out: even the darkest 1% of pixels are at {v:.0%} brightness "
                  f"(photos < {LIGHT_FLOOR:.0%})")
    add("blank", blank, ok["contrast"],
        lambda v: f"nearly blank: luminance varies by {v:.1%} of the range")
    if "edge" in ok:
        _blur(ok, blank, add)
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
        summary = (f"no dark, light, blank{', blurry, upscaled' if 'edge' in ok else ''} "
                   "or odd images")
    if "edge" not in ok:
        summary += " (blur not judged: the table has no edge measure)"
    return CheckResult("quality", "warn" if len(findings) else "pass", summary, metrics,
                       findings)


register(Check(
    name="quality", title="Image quality", order=15, shape="sheets",
    doc="Images too dark, washed out, blurry, upscaled, nearly blank, of odd size or far off "
        "in colour.",
    run=lambda ctx: check_quality(ctx.table),
    columns=(("kind", "kind"), ("path", "file"), ("split", "split"), ("label", "class"),
             ("detail", "detail")),
    line=lambda row: f"{row['path']}: {row['detail']}",
    severity=lambda row: "warn",
))
