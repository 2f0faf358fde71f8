"""shortcuts: can the label be predicted from things that are not the object?

Small cross-validated decision trees are trained on families of properties the scan already
has, one family at a time: image size and aspect, file format, colour mode, metadata bytes
(JPEG APPn/COM segments, PNG ancillary chunks: EXIF, ICC, XMP, comments), JPEG quality and
settings (chroma subsampling, progressive), a uniform border (the outer ring of the 32x32
thumbnail, its luminance std over the image's), camera, the extra columns of a manifest, and
the families that are partly content: compressed size (bits per pixel of the pixel data),
brightness, colour and contrast/sharpness. A family carries a shortcut when

- its out-of-fold accuracy is above the majority-class rate by a one-sided binomial test at
  ``alpha`` / (number of families) (Bonferroni), and
- some class is practically identifiable from it: Cohen's kappa of "predicted c" vs "is c"
  (the class's agreement beyond chance, 0 = chance, 1 = perfect) is at least ``min_kappa``.

Metadata families fail the check; the content-bearing ones warn: a textured class compresses
worse than a smooth one and sky is blue, so a real dataset's classes differ in them without
anything planted (BSDS500 photos grouped by their detail: compressed size reaches kappa 0.83).
Per split, a family that separates a class in one split but not in the other (the model fitted
on one split, applied to the other, loses ``min_kappa`` of that class's kappa) warns: a model
would learn a rule that the test data does not follow, or the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..features.image_props import thumb_properties
from ..options import group, option
from ..sources.manifest import EXTRA
from . import Check, CheckResult, Skip, plural, register, worst

#: Family -> (numeric columns, categorical columns, can fail). Missing columns are skipped.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "size": (("log_width", "log_height", "log_aspect"), (), True),
    "format": ((), ("format",), True),
    "mode": ((), ("mode",), True),
    "metadata bytes": (("log_metadata_bytes",), (), True),
    "border": (("border_ratio", "border"), (), True),
    "jpeg quality": (("jpeg_quality",), (), True),
    "jpeg settings": ((), ("jpeg_settings",), True),
    "camera": ((), ("camera", "software"), True),
    "compressed size": (("bits_per_pixel",), (), False),
    "brightness": (("brightness", "dark", "light"), (), False),
    "colour": (("mean_r", "mean_g", "mean_b", "saturation"), (), False),
    "contrast": (("contrast", "log_sharpness"), (), False),
}
ALPHA = 0.01
MIN_KAPPA = 0.5
#: Rows used at most (stratified by class, seeded): the trees are cheap but a 1M-image audit
#: does not need a million rows to see a shortcut.
MAX_ROWS = 5_000
FOLDS = 5
#: Classes with fewer labelled images than this are left out of the classifiers.
MIN_CLASS = 10
#: A manifest column with more distinct text values than this (ids, captions) is not tested.
MAX_LEVELS = 100
COLUMNS = ["kind", "feature", "label", "split", "accuracy", "chance", "kappa", "pvalue", "path",
           "detail"]
SPLIT_PAIRS = [("train", "test"), ("train", "test-val"), ("train-val", "test-val"),
               ("train", "val"), ("val", "test")]


@group("shortcuts", order=65)
@dataclass(frozen=True)
class ShortcutOptions:
    """Thresholds of the shortcuts check."""

    shortcut_alpha: float = option(ALPHA, "Significance of the shortcuts check's binomial test "
                                   "(Bonferroni over the property families).",
                                   minimum=1e-9, maximum=0.5)
    min_kappa: float = option(MIN_KAPPA, "Per-class Cohen's kappa from one property family at "
                              "or above which the shortcut is reported.", minimum=0.0,
                              maximum=1.0)


def features(table: pd.DataFrame, thumbs: np.ndarray | None = None,
             columns: pd.DataFrame | None = None) -> pd.DataFrame:
    """The metadata features of ``table``'s rows (thumbnails N x 32 x 32 x 3 give the border;
    ``columns``, a manifest's other columns for the same rows, become ``EXTRA`` + name)."""
    f = pd.DataFrame(index=table.index)
    for name in columns.columns if columns is not None else ():
        f[f"{EXTRA}{name}"] = _column_values(columns[name].to_numpy())
    w = table["width"].astype(float).clip(lower=1)
    h = table["height"].astype(float).clip(lower=1)
    f["log_width"], f["log_height"], f["log_aspect"] = np.log(w), np.log(h), np.log(w / h)
    meta = (table["metadata_bytes"].astype(float) if "metadata_bytes" in table
            else pd.Series(np.nan, index=table.index))
    pixel_bytes = (table["bytes"].astype(float) - meta.fillna(0)).clip(lower=0)
    f["bits_per_pixel"] = np.log1p(8 * pixel_bytes / (w * h))
    f["log_metadata_bytes"] = np.log1p(meta)
    f["log_sharpness"] = np.log1p(table["sharpness"].astype(float))
    for col in ("format", "mode", "brightness", "dark", "light", "mean_r", "mean_g", "mean_b",
                "saturation", "contrast", "jpeg_quality", "jpeg_settings", "border", "camera",
                "software"):
        if col in table:
            f[col] = table[col].to_numpy()
    if thumbs is not None and len(thumbs) == len(table):
        props = thumb_properties(thumbs)
        # the ring's spread over the whole image's: ~0 for a frame, ~1 for a photo, and the
        # same for a brighter or darker copy of it
        f["border_ratio"] = props["border_std"] / table["contrast"].astype(float).clip(
            lower=1e-3).to_numpy()
    return f


def _column_values(values: np.ndarray) -> np.ndarray:
    """A manifest column as numbers (numbers, or dates as seconds) when every non-empty value
    reads as one, else as text."""
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    present = ~text.isin(["", "nan", "None", "NaT"])
    numbers = pd.to_numeric(text.where(present), errors="coerce")
    if present.any() and numbers[present].notna().all():
        return numbers.to_numpy(dtype=float)
    dates = pd.to_datetime(text.where(present), errors="coerce", format="mixed", utc=True)
    if present.any() and dates[present].notna().all():
        return (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    return text.where(present, "").to_numpy()


def family_specs(feats: pd.DataFrame) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    """FAMILIES plus one family per manifest column ("column NAME"; they can fail)."""
    specs = dict(FAMILIES)
    for col in (c for c in feats.columns if c.startswith(EXTRA)):
        numeric = pd.api.types.is_float_dtype(feats[col])
        specs[f"column {col[len(EXTRA):]}"] = ((col,), (), True) if numeric else ((), (col,), True)
    return specs


def restates_label(values: pd.Series, labels: np.ndarray) -> bool:
    """Whether a column is the label under other names (one value per class and vice versa)."""
    pairs = pd.DataFrame({"v": values.astype(str).to_numpy(), "y": labels}).drop_duplicates()
    return bool(pairs["v"].is_unique and pairs["y"].is_unique)


def _matrix(feats: pd.DataFrame, spec) -> np.ndarray | None:
    """The design matrix of one family (one-hot categoricals), None when it has no variation."""
    numeric, categorical, _ = spec
    parts = [feats[c].astype(float).fillna(-1.0).to_numpy()[:, None]
             for c in numeric if c in feats]
    for c in categorical:
        if c in feats:
            values = feats[c].fillna("").astype(str)
            if 1 < values.nunique() <= MAX_LEVELS:
                parts.append(pd.get_dummies(values).to_numpy(dtype=float))
    if not parts:
        return None
    x = np.hstack(parts)
    return x if np.ptp(x, axis=0).max() > 0 else None


def _tree(n: int, seed: int):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=4, min_samples_leaf=max(5, n // 200),
                                  random_state=seed)


def cv_predict(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of a small tree (stratified folds)."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(FOLDS, int(np.bincount(y).min()))
    pred = np.empty_like(y)
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        pred[held] = _tree(len(train), seed).fit(x[train], y[train]).predict(x[held])
    return pred


def binom_pvalue(correct: int, n: int, rate: float) -> float:
    """P(X >= correct) for X ~ Binomial(n, rate)."""
    from scipy.special import bdtrc

    return 1.0 if correct <= 0 else float(bdtrc(correct - 1, n, rate))


def class_kappas(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Cohen's kappa of (pred == c) against (y == c), for each class c."""
    out = np.zeros(k)
    for c in range(k):
        a, b = y == c, pred == c
        po = float((a == b).mean())
        pe = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
        out[c] = 0.0 if pe >= 1 else (po - pe) / (1 - pe)
    return out


def _score(y, pred, k) -> dict:
    n = len(y)
    chance = float(np.bincount(y, minlength=k).max() / n)
    correct = int((y == pred).sum())
    return {"accuracy": correct / n, "chance": chance,
            "pvalue": binom_pvalue(correct, n, chance), "kappas": class_kappas(y, pred, k)}


def check_shortcuts(table: pd.DataFrame, thumbs: np.ndarray | None = None, *,
                    columns: pd.DataFrame | None = None, alpha: float = ALPHA,
                    min_kappa: float = MIN_KAPPA, seed: int = 0) -> CheckResult:
    """``table``: labelled readable rows (with their thumbnails, same order, or None, and a
    manifest's other columns, same rows, or None)."""
    feats = features(table, thumbs, columns)
    classes, y = np.unique(table["label"].astype(str).to_numpy(), return_inverse=True)
    k = len(classes)
    specs = family_specs(feats)
    restating = [f for f, (num, cat, _) in specs.items() if f.startswith("column ")
                 and restates_label(feats[(num + cat)[0]], y)]
    families = {f: x for f, spec in specs.items()
                if f not in restating and (x := _matrix(feats, spec)) is not None}
    if not families:
        raise Skip("every image has the same size, format and properties")
    level = alpha / len(families)
    rows, statuses, metrics = [], ["pass"], {"images": len(y), "classes": k,
                                             "families": len(families)}
    for family, x in families.items():
        s = _score(y, cv_predict(x, y, seed=seed), k)
        metrics[f"accuracy_{family.replace(' ', '_')}"] = round(s["accuracy"], 4)
        hit = np.flatnonzero(s["kappas"] >= min_kappa)
        if s["pvalue"] >= level or not len(hit):
            continue
        can_fail = specs[family][2]
        statuses.append("fail" if can_fail else "warn")
        named = hit[np.argsort(-s["kappas"][hit])]
        labels = ", ".join(f"{classes[c]!r} (kappa {s['kappas'][c]:.2f})" for c in named[:5])
        rows.append({"kind": "shortcut", "feature": family,
                     "label": ", ".join(str(classes[c]) for c in named), "split": None,
                     "accuracy": round(s["accuracy"], 4), "chance": round(s["chance"], 4),
                     "kappa": round(float(s["kappas"][named[0]]), 4), "pvalue": s["pvalue"],
                     "path": None,
                     "detail": f"{family} alone predicts the label with {s['accuracy']:.0%} "
                               f"accuracy (majority class {s['chance']:.0%}, p={s['pvalue']:.2g})"
                               f"; it singles out {labels}"
                               + ("" if can_fail else " (may be content: check the examples)")})
        for c in named[:5]:
            example = table["path"].to_numpy()[y == c][0]
            rows.append({"kind": "example", "feature": family, "label": str(classes[c]),
                         "split": table["split"].to_numpy()[y == c][0], "path": example,
                         "detail": f"an image of {classes[c]!r} (told apart by {family})"})
    rows += _split_rows(table, feats, families, classes, y, min_kappa, level, seed)
    statuses += ["warn"] * sum(r["kind"] == "split" for r in rows)
    findings = pd.DataFrame(rows, columns=COLUMNS)
    status = worst(*statuses)
    named = findings[findings["kind"] == "shortcut"]
    metrics["shortcuts"] = len(named)
    metrics["split_shortcuts"] = int((findings["kind"] == "split").sum())
    if len(named):
        summary = _summary(named, specs)
    elif metrics["split_shortcuts"]:
        summary = (f"{plural(metrics['split_shortcuts'], 'property family', 'property families')}"
                   " separate classes in one split but not in the other")
    else:
        summary = (f"no property family ({', '.join(families)}) predicts the label beyond "
                   f"chance")
    if restating:
        summary += f" ({', '.join(restating)}: the label under other names, not tested)"
    return CheckResult("shortcuts", status, summary, metrics, findings,
                       details={"not_tested": restating})


def _summary(named: pd.DataFrame, specs) -> str:
    """What the shortcut families name: metadata first, then those that may be content."""
    listed = {can: "; ".join(f"{f} ({lab})" for f, lab in zip(named["feature"], named["label"],
                                                               strict=True)
                             if specs[f][2] == can) for can in (True, False)}
    if not listed[True]:
        return f"the label is predictable from properties that may be content: {listed[False]}"
    return (f"the label is predictable from {listed[True]}"
            + (f"; may be content: {listed[False]}" if listed[False] else ""))


def _split_rows(table, feats, families, classes, y, min_kappa, level, seed) -> list[dict]:
    """Families that single out a class in one split and not (applied as fitted) in the other."""
    splits = table["split"].to_numpy()
    pair = next(((a, b) for a, b in SPLIT_PAIRS if _usable(y[splits == a])
                 and _usable(y[splits == b])), None)
    if pair is None:
        return []
    rows = []
    k = len(classes)
    for family, x in families.items():
        for src, dst in (pair, pair[::-1]):
            inside, other = splits == src, splits == dst
            s = _score(y[inside], cv_predict(x[inside], y[inside], seed=seed), k)
            best = int(np.argmax(s["kappas"]))
            if s["pvalue"] >= level or s["kappas"][best] < min_kappa:
                continue
            model = _tree(int(inside.sum()), seed).fit(x[inside], y[inside])
            there = class_kappas(y[other], model.predict(x[other]), k)[best]
            if s["kappas"][best] - there >= min_kappa:
                rows.append({"kind": "split", "feature": family, "label": str(classes[best]),
                             "split": src, "kappa": round(float(s["kappas"][best]), 4),
                             "pvalue": s["pvalue"],
                             "detail": f"{family} singles out {classes[best]!r} in {src} "
                                       f"(kappa {s['kappas'][best]:.2f}) but not in {dst} "
                                       f"(kappa {there:.2f} with the {src} rule)"})
                break
    return rows


def _usable(y: np.ndarray) -> bool:
    counts = np.bincount(y)
    return (counts >= MIN_CLASS).sum() >= 2


def sample_rows(table: pd.DataFrame, max_rows: int, seed: int) -> np.ndarray:
    """Positions of labelled readable rows of classes with >= MIN_CLASS images, at most
    ``max_rows`` (each class subsampled in proportion, seeded)."""
    ok = table["label"].notna().to_numpy() & table["problem"].isna().to_numpy()
    counts = table.loc[ok, "label"].value_counts()
    ok &= table["label"].isin(counts[counts >= MIN_CLASS].index).to_numpy()
    rows = np.flatnonzero(ok)
    if len(rows) > max_rows:
        rng = np.random.default_rng(seed)
        share = max_rows / len(rows)
        labels = table["label"].to_numpy()[rows]
        rows = np.sort(np.concatenate([
            rng.choice(rows[labels == lab], max(MIN_CLASS, int(round(n * share))),
                       replace=False) for lab, n in counts[counts >= MIN_CLASS].items()]))
    return rows


def _run(ctx) -> CheckResult:
    opts = ctx.options["shortcuts"]
    rows = sample_rows(ctx.table, MAX_ROWS, ctx.seed)
    if len(np.unique(ctx.table["label"].to_numpy()[rows].astype(str))) < 2:
        raise Skip(f"needs two classes with at least {MIN_CLASS} readable images each")
    table = ctx.table.iloc[rows].reset_index(drop=True)
    columns = getattr(ctx.dataset, "columns", None)
    if columns is not None and len(columns) == len(ctx.table):
        columns = columns.iloc[rows].reset_index(drop=True)
    else:
        columns = None
    return check_shortcuts(table, ctx.thumbs(rows), columns=columns,
                           alpha=opts.shortcut_alpha, min_kappa=opts.min_kappa, seed=ctx.seed)


def _line(row) -> str:
    return (f"{row['feature']} -> {row['label']}: {row['path']}" if row["kind"] == "example"
            else str(row["detail"]))


register(Check(
    name="shortcuts", title="Shortcuts", order=45,
    doc="Labels predictable from image size, format, mode, metadata, border, JPEG quality or "
        "settings, camera, manifest columns, compressed size, brightness or colour (what the "
        "classifier may learn instead of the object).",
    run=_run, options=("shortcuts",),
    columns=(("kind", "kind"), ("feature", "property"), ("label", "classes"),
             ("split", "split"), ("accuracy", "accuracy"), ("chance", "chance"),
             ("kappa", "kappa"), ("detail", "detail")),
    line=_line,
))
