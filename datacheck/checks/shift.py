"""shift: does one split (test-val) come from a different distribution than another (train-val)?

Four families of two-sample tests, corrected together with Holm's method so that the check's
false-positive rate stays at ``alpha`` however many tests run:

- image properties (brightness, contrast, sharpness, luminance percentiles, colour, size,
  file size): Kolmogorov-Smirnov per property; format and colour mode: chi-square;
- a domain classifier (Lipton et al. 2018; Rabanser et al., "Failing Loudly", NeurIPS 2019):
  logistic regression on properties + PCA of 16x16 grayscale pixels, cross-validated; its
  out-of-fold scores give an AUC with a fold-wise Mann-Whitney p-value (a global shift), and
  a hypergeometric test on how many of the top-k scored images come from the second split
  (a shift in a few images);
- black-box shift detection (BBSD): KS on each class's predicted probability, when model
  outputs for both splits are given;
- label shift: chi-square on class counts.

When the red or blue mean is among the rejected properties, an RGB<->BGR swap is named if the
images' red-minus-blue balance differs between the splits and negating it in the second split
(what a swap does) makes the difference vanish. It explains a rejection; it is not a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import BadInputError
from ..options import group, option
from ..sources.split_names import SPLITS
from . import Check, CheckResult, Skip, plural, register

PROPERTIES = ["brightness", "contrast", "sharpness", "dark", "light", "saturation", "mean_r",
              "mean_g", "mean_b", "width", "height", "aspect", "bytes"]
CATEGORIES = ["format", "mode"]
COLUMNS = ["kind", "name", "pvalue", "effect", "detail", "path", "score"]
#: Preferred split pairs, first match wins.
PAIRS = [("train-val", "test-val"), ("val", "test"), ("train", "test"), ("train", "val")]


def default_between(splits) -> tuple[str, str] | None:
    """The pair of splits to compare: train-val vs test-val, else val vs test, ..."""
    present = set(splits)
    return next(((a, b) for a, b in PAIRS if a in present and b in present), None)


def check_shift(table: pd.DataFrame, pixels: np.ndarray, *, between: tuple[str, str],
                alpha: float = 0.05, top_k: int = 20, seed: int = 0,
                outputs: np.ndarray | None = None) -> CheckResult:
    """Compare split ``between[1]`` against ``between[0]``.

    ``table`` holds the readable rows of both splits, ``pixels`` their thumbnails (N x H x W x 3
    uint8) in the same order, ``outputs`` optional model probabilities (N x K) for BBSD.
    """
    from scipy import stats  # scipy.stats + sklearn: ~1.5 s, imported when run
    from sklearn.metrics import roc_auc_score
    a_name, b_name = between
    in_b = (table["split"] == b_name).to_numpy()
    n_a, n_b = int((~in_b).sum()), int(in_b.sum())
    props = _properties(table)
    tests: list[dict] = []
    tests += _property_tests(props, in_b, a_name, b_name)
    tests += _category_tests(table, in_b)
    tests += _label_test(table, in_b)
    if outputs is not None:
        tests += _bbsd(outputs, in_b)
    domain, fold = _domain_classifier(props, pixels, in_b, seed=seed)
    auc = float(roc_auc_score(in_b, domain)) if n_a and n_b else 0.5
    tests.append({"kind": "domain", "name": "classifier AUC", "effect": auc,
                  "pvalue": _fold_auc_pvalue(domain, fold, in_b),
                  "detail": f"a classifier tells {b_name} from {a_name} with AUC {auc:.3f}"})
    k = min(top_k, n_b, n_a + n_b)
    top = np.argsort(-domain, kind="stable")[:k]
    hits = int(in_b[top].sum())
    tests.append({"kind": "domain", "name": f"top-{k} images", "effect": hits / max(k, 1),
                  "pvalue": float(stats.hypergeom.sf(hits - 1, n_a + n_b, n_b, k)),
                  "detail": f"{hits} of the {k} most {b_name}-like images are from {b_name} "
                            f"(expected {k * n_b / (n_a + n_b):.1f})"})
    rejected = _holm([t["pvalue"] for t in tests], alpha)
    for t, r in zip(tests, rejected):
        t["rejected"] = bool(r)
    findings = [t for t in tests if t["rejected"]]
    colour_moved = any(t["name"] in ("mean_r", "mean_b") for t in findings)
    swap = _channel_swap(props, in_b, alpha) if colour_moved else None
    if swap:
        findings.insert(0, {"kind": "channels", "name": "RGB<->BGR", "pvalue": None,
                            "effect": None, "detail": swap})
    rows = pd.DataFrame(findings, columns=COLUMNS)
    b_rows = np.flatnonzero(in_b)
    order = b_rows[np.argsort(-domain[b_rows], kind="stable")][:top_k]
    images = pd.DataFrame({"kind": "image", "name": "most test-like",
                           "path": table["path"].to_numpy()[order],
                           "score": np.round(domain[order], 4)}, columns=COLUMNS)
    shifted = bool(len(rows))
    findings_frame = pd.concat([rows, images], ignore_index=True) if shifted else rows
    metrics = {"n_" + a_name: n_a, "n_" + b_name: n_b, "tests": len(tests),
               "rejected": int(sum(rejected)), "domain_auc": round(auc, 4),
               "min_pvalue": float(min(t["pvalue"] for t in tests))}
    for t in tests:
        if t["kind"] == "property":
            metrics[f"p_{t['name']}"] = t["pvalue"]
    if shifted:
        names = ", ".join(dict.fromkeys(t["name"] for t in findings))
        summary = (f"{b_name} differs from {a_name}: {plural(len(rows), 'test')} reject at "
                   f"alpha={alpha:g} after Holm correction ({names})")
        status = "fail"
    else:
        summary = (f"no shift between {a_name} ({n_a:,}) and {b_name} ({n_b:,}) in "
                   f"{len(tests)} tests; domain AUC {auc:.2f}")
        status = "pass"
    details = {"between": [a_name, b_name],
               "tests": [{k: t[k] for k in ("kind", "name", "pvalue", "effect", "rejected")}
                         for t in tests]}
    return CheckResult("shift", status, summary, metrics, findings_frame, details)


def _properties(table: pd.DataFrame) -> pd.DataFrame:
    props = table.reindex(columns=[p for p in PROPERTIES if p != "aspect"]).astype(float)
    props["aspect"] = table["width"].astype(float) / table["height"].clip(lower=1).astype(float)
    return props[PROPERTIES]


def _property_tests(props, in_b, a_name, b_name) -> list[dict]:
    from scipy import stats
    out = []
    for name in PROPERTIES:
        a, b = props[name].to_numpy()[~in_b], props[name].to_numpy()[in_b]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 2 or len(b) < 2 or np.ptp(np.concatenate([a, b])) == 0:
            continue
        ks = stats.ks_2samp(a, b)
        spread = np.concatenate([a, b]).std() or 1.0
        effect = float((np.median(b) - np.median(a)) / spread)
        out.append({"kind": "property", "name": name, "pvalue": float(ks.pvalue),
                    "effect": round(effect, 4),
                    "detail": f"{name}: median {np.median(a):.4g} in {a_name}, "
                              f"{np.median(b):.4g} in {b_name} (KS {ks.statistic:.2f})"})
    return out


def _category_tests(table, in_b) -> list[dict]:
    from scipy import stats
    out = []
    for name in CATEGORIES:
        if name not in table or table[name].nunique() < 2:
            continue
        counts = pd.crosstab(table[name], in_b)
        out.append({"kind": "property", "name": name, "effect": None,
                    "pvalue": float(stats.chi2_contingency(counts.to_numpy())[1]),
                    "detail": f"{name} mix differs: " + ", ".join(
                        f"{k} {a}->{b}" for k, (a, b) in counts.iterrows())})
    return out


def _label_test(table, in_b) -> list[dict]:
    from scipy import stats
    labels = table["label"]
    if labels.isna().any() or labels.nunique() < 2:
        return []
    counts = pd.crosstab(labels, in_b)
    p = counts / counts.sum()
    tvd = float(0.5 * (p[True] - p[False]).abs().sum()) if True in p and False in p else 0.0
    moved = (p[True] - p[False]).abs().idxmax() if tvd else None
    return [{"kind": "label", "name": "class frequencies", "effect": round(tvd, 4),
             "pvalue": float(stats.chi2_contingency(counts.to_numpy())[1]),
             "detail": f"class mix differs (TVD {tvd:.2f}); most changed: {moved!r} "
                       f"{p.loc[moved, False]:.0%} -> {p.loc[moved, True]:.0%}" if moved
             else "class mix identical"}]


def _bbsd(outputs, in_b) -> list[dict]:
    from scipy import stats
    pvals = [stats.ks_2samp(outputs[~in_b, c], outputs[in_b, c]).pvalue
             for c in range(outputs.shape[1])]
    worst = int(np.argmin(pvals))
    return [{"kind": "outputs", "name": "model outputs (BBSD)", "effect": None,
             "pvalue": float(min(1.0, min(pvals) * len(pvals))),
             "detail": f"predicted probability of class #{worst} shifts most"}]


def _fold_auc_pvalue(scores, fold, in_b) -> float:
    """One-sided p-value that the held-out AUC exceeds 0.5.

    Each fold's held-out AUC has the Mann-Whitney null variance (its model never saw those
    images), but folds share training data, so pooling all out-of-fold scores into one
    Mann-Whitney test is anti-conservative (measured: 4x the nominal rate). The mean of the fold
    AUCs has a variance at most the mean of the fold variances, whatever their correlation;
    that bound gives a valid z-test.
    """
    from scipy import stats
    from sklearn.metrics import roc_auc_score
    aucs, variances = [], []
    for f in np.unique(fold):
        held = fold == f
        n1, n0 = int(in_b[held].sum()), int((~in_b[held]).sum())
        if n1 and n0:
            aucs.append(roc_auc_score(in_b[held], scores[held]))
            variances.append((n1 + n0 + 1) / (12 * n1 * n0))
    if not aucs:
        return 1.0
    return float(stats.norm.sf((np.mean(aucs) - 0.5) / np.sqrt(np.mean(variances))))


def _domain_classifier(props, pixels, in_b, *, seed: int, folds: int = 5):
    """Out-of-fold probability that each image belongs to the second split, and its fold."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    y = in_b.astype(int)
    fold = np.zeros(len(y), dtype=int)
    if min(y.sum(), len(y) - y.sum()) < 2:
        return np.full(len(y), 0.5), fold
    gray = pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    small = gray.reshape(len(pixels), pixels.shape[1] // 2, 2, pixels.shape[2] // 2, 2)
    small = small.mean(axis=(2, 4)).reshape(len(pixels), -1) / 255.0
    tabular = props.fillna(props.median()).fillna(0.0).to_numpy()
    # PCA sees no split labels, so fitting it on all images keeps the folds honest
    components = min(16, len(y) - 1, small.shape[1])
    feats = np.hstack([tabular, PCA(components, svd_solver="covariance_eigh").fit_transform(small)])
    scores = np.zeros(len(y))
    k = int(min(folds, y.sum(), len(y) - y.sum()))
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    for f, (train, held) in enumerate(splitter.split(feats, y)):
        fold[held] = f
        scaler = StandardScaler().fit(feats[train])
        model = LogisticRegression(C=0.5, max_iter=500)
        model.fit(scaler.transform(feats[train]), y[train])
        scores[held] = model.predict_proba(scaler.transform(feats[held]))[:, 1]
    return scores, fold


def _channel_swap(props, in_b, alpha) -> str | None:
    """Swapping R and B negates each image's red-minus-blue balance: name a swap when that
    balance differs between the splits and negating it in the second split removes the
    difference."""
    from scipy import stats
    balance = (props["mean_r"] - props["mean_b"]).to_numpy()
    if not np.isfinite(balance).all() or np.ptp(balance) == 0:
        return None
    a, b = balance[~in_b], balance[in_b]
    as_is = stats.ks_2samp(a, b).pvalue
    negated = stats.ks_2samp(a, -b).pvalue
    if as_is < alpha and negated > max(alpha, 10 * as_is):
        return ("red and blue are exchanged between the splits: images of one split were "
                "probably saved in BGR order (OpenCV)")
    return None


def _holm(pvalues: list[float], alpha: float) -> list[bool]:
    order = np.argsort(pvalues)
    rejected = [False] * len(pvalues)
    for rank, idx in enumerate(order):
        if pvalues[idx] > alpha / (len(pvalues) - rank):
            break
        rejected[idx] = True
    return rejected


#: The shift check compares at most this many images per split (a seeded sample).
SAMPLE = 5000
MIN_IMAGES = 10


@group("shift", order=60)
@dataclass(frozen=True)
class ShiftOptions:
    """What the shift check compares, and its false-positive rate."""

    between: tuple[str, str] | None = option(
        None, "Splits the shift check compares [default: train-val test-val, else val test].",
        kind="pair", param=False)
    alpha: float = option(0.05, "Shift tests' false-positive rate (after Holm correction).",
                          minimum=1e-12, maximum=1 - 1e-12)


def _run(ctx) -> CheckResult:
    """The shift check on (a seeded sample of) the readable images of the two splits, with the
    label_noise check's out-of-fold probabilities for BBSD when it ran."""
    opts, table = ctx.options["shift"], ctx.table
    missing = [s for s in opts.between or () if s not in ctx.dataset.splits]
    if missing:
        raise BadInputError(f"--between: split {missing[0]!r} is not in the dataset "
                            f"(it has {', '.join(ctx.dataset.splits)})")
    pair = opts.between or default_between(ctx.dataset.splits)
    if pair is None:
        present = list(dict.fromkeys(table["split"]))
        raise Skip(f"needs two of the splits {', '.join(SPLITS)} to compare (has "
                   f"{', '.join(present)}); name them with --between A B")
    rng = np.random.default_rng(ctx.seed)
    parts = []
    for split in pair:
        idx = np.flatnonzero(((table["split"] == split) & table["problem"].isna()).to_numpy())
        if len(idx) < MIN_IMAGES:
            raise Skip(f"needs at least {MIN_IMAGES} readable images in {split}")
        if len(idx) > SAMPLE:
            idx = np.sort(rng.choice(idx, SAMPLE, replace=False))
        parts.append(idx)
    rows = np.concatenate(parts)
    sub = table.iloc[rows].reset_index(drop=True)
    outputs, probs = ctx.get("model_outputs"), None
    if outputs is not None and not np.isnan(outputs[rows]).any():
        probs = outputs[rows]  # out-of-fold: no image is scored by a model that saw it
    return check_shift(sub, ctx.thumbs(rows), between=tuple(pair), alpha=opts.alpha,
                       seed=ctx.seed, outputs=probs)


register(Check(
    name="shift", title="Shift", order=60,
    doc="Distribution shift between two splits (default train-val vs test-val).",
    run=_run, options=("shift",),
))
