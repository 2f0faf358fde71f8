"""label_noise: images whose label is probably wrong, from out-of-fold model probabilities.

Every labelled, readable image gets class probabilities from a model that never trained on it
(k-fold cross-validation, :mod:`learning.models`, on a stratified sample that fits the
``--train-minutes`` budget, :mod:`learning.budget`; the images outside it are scored by the
average of the fold models). Confident learning (cleanlab) then flags the
images whose given label the model finds least likely, and always suggests another label.

The filter depends on how good the model is. cleanlab's ``both`` flags the examples it is
confident about; the images the model gets wrong beyond those are its own mistakes (its
residual error).

- Residual at most 5% (a strong model: digits, 99% right): an image is flagged when the model
  confidently contradicts its label (the suggested label at least ``MIN_ODDS`` = 2 times as
  probable as the given one), or when cleanlab's ``prune_by_noise_rate`` flags it. Every
  disagreement (``predicted_neq_given``) found all flipped labels but also the ambiguous images
  the model hesitates on (precision 0.92 at 10% noise): a flipped label gets a small fraction
  of the suggested label's probability, an ambiguous image nearly as much. The odds alone miss
  class-pair noise (c -> c+1 for 20% of class c): the model learns that the wrong label is
  ~20% likely, so many flips have odds under 2 (recall 0.89). ``prune_by_noise_rate`` catches
  those, since the confident joint counts that pair's noise, but alone it misses the flips
  whose true class gets less than its class's average probability (recall 0.87).
  On digits (mean F1 over noise seeds 0-2): 10% symmetric 0.956 -> 0.980 (seeds 0-4:
  0.952 -> 0.979, worst 0.973), 20% symmetric 0.976 -> 0.989, 20% class-pair 0.951 -> 0.969.
  Odds of 1.7 / 3.3 instead of 2 gave 0.974 / 0.982 at 10% (5 seeds) and 0.989 / 0.988 at
  20%: lower odds let more hesitations through; 2 ("twice as probable") is kept rather
  than the best value on these seeds.
- Otherwise (Fashion-MNIST or CIFAR-10 from scratch on a CPU, 70-89% right) every
  disagreement includes the model's own mistakes, and the images are ranked by self-confidence
  (the probability the model gives the label) and the lowest ``num_label_issues`` flagged
  (cleanlab's ``low_self_confidence``: the count is the confident joint's off-diagonal). A
  flipped label gets a far smaller probability than an image the model merely gets wrong, so
  the ranking is good (the best cut of it: F1 0.90 on Fashion-MNIST 10% symmetric) and the
  count is what costs precision: it includes the model's confident mistakes (816 for 600
  flips). Against the previous rule (``both`` with the odds test; same out-of-fold
  probabilities, one seed each, from the earlier width-32 float32 CPU recipe): Fashion-MNIST
  6k 10% symmetric 0.720 -> 0.795, CIFAR-10 test 20% symmetric 0.712 -> 0.748, 10%
  class-pair 0.584 -> 0.572 (median probability of the given label: class-pair flips 0.075,
  the model's mistakes on clean labels 0.151; no cut of the ranking passes F1 0.60 there
  with that model). With a strong model the count falls
  short instead (digits 10% symmetric: 129 for 179 flips, F1 0.838), hence the two regimes.
  With the whitened net for grey images over 16 px (``recipes.DETAIL_SIDE``), Fashion-MNIST
  reaches F1 0.889 / 0.882 (noise seeds 0 / 1; both & odds on the same probabilities: 0.779
  / 0.767).
- Of those, only labels the model rules out are flagged: it gives the label less than
  ``RULED_OUT`` (0.6) of a uniform guess: 0.06 with 10 classes, three times the 0.02 that
  label smoothing of 0.2 teaches the whitened net to give each class an image is not. This
  removes the model's confident mistakes from the count once the cnn trains with small
  losses (``recipes.SMALL_LOSS``), where flips get less probability still. Both together,
  CIFAR-10 test 10k, noise seeds 0 / 1: 20% symmetric F1 0.781 / 0.795 -> 0.816 / 0.825, 10%
  class-pair 0.606 / 0.617 -> 0.720 / 0.739; Fashion-MNIST 6k 0.894 -> 0.876 (small-loss
  training ranks it slightly worse there). 0.5 and 0.8 gave 0.802 / 0.810 and 0.809 / 0.822
  (symmetric), 0.723 / 0.741 and 0.686 / 0.702 (class-pair), 0.882 and 0.873
  (Fashion-MNIST). Without small-loss training the cap hurt (CIFAR 20% symmetric 0.781 ->
  0.763): the model fits flips enough to give many of them more than 0.06.

Measured in benchmarks/label_noise.py. Findings are ranked by cleanlab's label quality score
(self-confidence: the probability the model gives the label; low = likely wrong).

When cross-validated accuracy is not clearly above chance (the majority-class rate), the labels
look unrelated to the images, as when a label file is out of order: the check fails with that.
Near-duplicate clusters whose labels disagree are reported here too (kind ``label_conflict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInputError
from ..learning.budget import enough_images
from ..options import group, option
from . import Check, CheckResult, Skip, plural, register

#: Share of images the model gets wrong beyond cleanlab's confident issues, up to which the
#: model counts as strong enough to flag every confident disagreement.
STRONG_MODEL_RESIDUAL = 0.05
#: Below this cross-validated accuracy many flagged images are the model's own mistakes.
WEAK_MODEL = 0.8
#: The model confidently contradicts a label when its guess is at least this many times as
#: probable as the given label (rather than hesitating between the two).
MIN_ODDS = 2.0
#: With a weak model, flagged images must have a label the model rules out: it gives the label
#: less than this share of a uniform guess (1 / classes; see the module docstring).
RULED_OUT = 0.6
COLUMNS = ["kind", "path", "split", "given", "suggested", "score", "digest"]


def check_label_noise(table: pd.DataFrame, probs: np.ndarray, classes, *,
                      duplicates: CheckResult | None = None,
                      plan: dict | None = None) -> CheckResult:
    """``table`` rows and ``probs`` (N x K out-of-sample probabilities, columns =
    ``classes``); ``plan``: what the training budget bought (:class:`learning.budget.Plan`)."""
    from cleanlab.filter import find_label_issues  # ~1.5 s, imported when run
    from cleanlab.rank import get_label_quality_scores
    from scipy.stats import binomtest
    classes = np.asarray(classes).astype(str)
    given = np.searchsorted(classes, table["label"].astype(str).to_numpy())
    n = len(given)
    correct = int((probs.argmax(1) == given).sum())
    accuracy = correct / n
    counts = np.bincount(given, minlength=len(classes))
    chance = float(counts.max() / n)
    p_above = float(binomtest(correct, n, chance, alternative="greater").pvalue)
    confident = find_label_issues(given, probs, filter_by="both", n_jobs=1)
    residual = 1 - accuracy - confident.mean()
    # self-confidence: the probability the model gives the label (low = likely wrong)
    scores = get_label_quality_scores(given, probs, method="self_confidence")
    if residual <= STRONG_MODEL_RESIDUAL:
        filter_by = "odds|prune_by_noise_rate"
        # odds of the model's guess against the given label (>= MIN_ODDS implies they differ)
        contradicted = probs.max(1) >= MIN_ODDS * scores
        issues = contradicted | find_label_issues(given, probs, filter_by="prune_by_noise_rate",
                                                  n_jobs=1)
    else:
        filter_by = "low_self_confidence"
        # cleanlab keeps rows whose best guess IS the given label here (a flat 0.25/0.24/...):
        # not a label error to report as "shirt -> shirt"
        issues = find_label_issues(given, probs, filter_by=filter_by, n_jobs=1) \
            & (probs.argmax(1) != given)
        # and only labels the model rules out: its confident mistakes stay out of the count
        issues &= scores < RULED_OUT / len(classes)
    unrelated = p_above > 0.001 or accuracy < chance + 0.1 * (1 - chance)
    if unrelated:  # a model that learned nothing suggests noise: list no image
        issues = np.zeros(n, dtype=bool)
    rows = pd.DataFrame({
        "kind": "label_issue",
        "path": table["path"].to_numpy()[issues],
        "split": table["split"].to_numpy()[issues],
        "given": classes[given[issues]],
        "suggested": classes[probs[issues].argmax(1)],
        "score": scores[issues],
        "digest": (table["digest"].to_numpy(dtype=object)[issues] if "digest" in table
                   else None),
    }, columns=COLUMNS).sort_values("score", kind="stable")
    rows["score"] = rows["score"].astype(float).round(3)
    conflicts = _conflicts(duplicates)
    findings = pd.concat([rows, conflicts], ignore_index=True) if len(conflicts) else \
        rows.reset_index(drop=True)
    metrics = {"images": n, "cv_accuracy": round(accuracy, 4), "chance_accuracy":
               round(chance, 4), "issues": int(issues.sum()),
               "noise_rate": round(float(issues.mean()), 4), "label_conflicts": len(conflicts),
               "model_residual_error": round(float(residual), 4)}
    for k, name in enumerate(classes):
        in_class = given == k
        metrics[f"noise_rate_{name}"] = round(float(issues[in_class].mean()), 4) \
            if in_class.any() else 0.0
    details = {"filter_by": filter_by, **({"plan": plan} if plan else {})}
    if plan:
        metrics.update({"trained_images": plan["sample"], "epochs": plan["epochs"]})
    if filter_by.startswith("odds"):
        details["min_odds"] = MIN_ODDS
    strength = f"cross-validated accuracy {accuracy:.1%} vs {chance:.1%} by chance"
    if plan and plan["sample"] < n:
        strength += (f"; models trained on {plan['sample']:,} of the {n:,} images, every image "
                     f"scored by models that never saw it")
    if unrelated:
        summary = (f"labels look unrelated to the images — out of order? {strength} (always "
                   f"guessing the largest class); no per-image suggestions from a model that "
                   f"learned nothing")
        return CheckResult("label_noise", "fail", summary, metrics, findings, details)
    weak = (" — the model is weak, so these are hints, not verdicts; a stronger model helps: "
            "--embed MODEL (a pretrained network you have), a GPU, or more --epochs"
            if accuracy < WEAK_MODEL else "")
    if not len(findings):
        return CheckResult("label_noise", "pass", f"no suspected label errors among {n:,} "
                           f"images ({strength}){weak}", metrics, findings, details)
    summary = (f"{plural(int(issues.sum()), 'suspected label error')} "
               f"({issues.mean():.1%} of {n:,}); {strength}")
    if len(conflicts):
        summary += f"; {plural(len(conflicts), 'duplicate cluster')} with disagreeing labels"
    return CheckResult("label_noise", "warn", summary + weak, metrics, findings, details)


def _conflicts(duplicates: CheckResult | None) -> pd.DataFrame:
    if duplicates is None or not len(duplicates.findings):
        return pd.DataFrame(columns=COLUMNS)
    bad = duplicates.findings[duplicates.findings["label_conflict"]]
    return pd.DataFrame({"kind": "label_conflict", "path": [p[0] for p in bad["paths"]],
                         "split": bad["split"].to_numpy(),
                         "given": [", ".join(map(str, lab)) for lab in bad["labels"]],
                         "suggested": None, "score": None,
                         "digest": [d[0] if isinstance(d, list) and d else None
                                    for d in bad.get("digests", [None] * len(bad))],
                         "paths": bad["paths"].to_numpy()})


@group("label_noise", order=50)
@dataclass(frozen=True)
class LabelNoiseOptions:
    """The cross-validated model behind the label_noise check."""

    model: str = option("cnn", "label_noise: model cross-validated per fold (with --features or "
                        "--embed, cnn means a linear probe).", choices=("cnn", "mlp", "linear"))
    folds: int = option(5, "label_noise: cross-validation folds.", minimum=2)
    epochs: int | None = option(None, "label_noise: training epochs [default: the device's "
                                "recipe; colour photos 12 on a CPU with hardware bfloat16, 10 "
                                "on other CPUs, 20 on a GPU; more for small datasets, within "
                                "--train-minutes].", minimum=1)
    train_minutes: float = option(4.0, "label_noise: time budget for training and scoring, "
                                  "measured on the device that trains: a larger dataset trains "
                                  "on a stratified sample that fits, and every image is still "
                                  "scored by models that never saw it.", minimum=0.1,
                                  param=False)
    train_images: int | None = option(None, "label_noise: train on a stratified sample of at "
                                      "most this many images [default: what --train-minutes "
                                      "allows].", minimum=10)
    device: str = option("auto", "label_noise: where models train.",
                         choices=("auto", "cpu", "cuda"), param=False)
    features: str | None = option(None, "label_noise: features per image: .parquet/.csv/.npz "
                                  "with a 'path' column (relative to the dataset root) and "
                                  "numeric columns, or .npy/.parquet rows in index order "
                                  "(sorted by split, then path).", kind="path", param=False)
    embed: str | None = option(None, "label_noise: embed images with a model you have: a "
                               "TorchScript file, or torchvision:NAME / timm:NAME / "
                               "open_clip:NAME from the local weights cache (no download); "
                               "cached per image and model.", param=False)


def _run(ctx) -> CheckResult:
    """Out-of-sample probabilities of the readable labelled images, then confident learning;
    the probabilities are shared (``model_outputs``, one row per table row) for the shift
    check. Cross-validation results are cached (:mod:`datacheck.learning.cv_cache`)."""
    from ..learning import cv_cache
    from ..learning.recipes import likely_device, native_side, recipe

    opts, table = ctx.options["label_noise"], ctx.table
    rows = np.flatnonzero((table["label"].notna() & table["problem"].isna()).to_numpy())
    if opts.device not in ("auto", "cpu"):  # a GPU asked for must exist, also when nothing trains
        from ..learning.models import resolve_device

        resolve_device(opts.device)
    if opts.features is not None and opts.embed:
        raise BadInputError("use --features or --embed, not both")
    labels = table["label"].to_numpy()[rows]
    try:
        enough_images(labels, opts.folds)
    except BadInputError as exc:
        if ctx.explicit:
            raise
        raise Skip(str(exc)) from None
    native = native_side(table.iloc[rows])
    digests = table["digest"].to_numpy(dtype=object)[rows]
    if opts.features is not None:
        x = load_features(opts.features, table["path"].to_numpy(dtype=object), rows)
        inputs = "features:" + cv_cache.array_id(x)
    elif opts.embed:
        from ..learning.embed import embeddings, model_key
        _limit_threads(ctx.workers)
        x = embeddings(opts.embed, digests, lambda pos: ctx.thumbs(rows[pos]), ctx.store.folder,
                       progress=ctx.progress)
        inputs = "embed:" + model_key(opts.embed)
    else:
        x, inputs = ctx.thumbs(rows), "thumbs:" + ctx.config
    model = "linear" if opts.model == "cnn" and x.ndim == 2 else opts.model
    budget = {"minutes": opts.train_minutes, "train_images": opts.train_images}

    def cached_for(device):
        rc = recipe(model, x, device, epochs=opts.epochs, native=native)
        key = cv_cache.key(digests, labels, rc, folds=opts.folds, seed=ctx.seed,
                           device=getattr(device, "type", device), inputs=inputs, budget=budget)
        return rc, key, cv_cache.load(ctx.store.folder, key)

    # the device is guessed without torch, so that a cached result costs no torch import
    guess = likely_device(opts.device)
    rc, key, cached = cached_for(guess)
    if cached is None:
        from ..learning.models import cross_val_probs, resolve_device

        dev = resolve_device(opts.device)
        if dev.type != guess:  # the guess was wrong: look again under the real device
            rc, key, cached = cached_for(dev)
    fresh = cached is None
    if fresh:  # trains the recipe the key was made from
        _limit_threads(ctx.workers)
        cv = cross_val_probs(x, labels, model=model, folds=opts.folds, epochs=opts.epochs,
                             recipe=rc, seed=ctx.seed, device=opts.device,
                             budget=opts.train_minutes * 60, train_images=opts.train_images,
                             progress=ctx.progress)
        cached = cv_cache.Result(cv.probs, cv.classes, cv.fold, cv.accuracy, cv.plan.as_dict())
        cv_cache.save(ctx.store.folder, key, cached)
    result = check_label_noise(table.iloc[rows].reset_index(drop=True), cached.probs,
                               cached.classes, duplicates=ctx.results.get("duplicates"),
                               plan=cached.plan)
    result.details.update({"model": model, "inputs": inputs.split(":")[0],
                           "cached": not fresh})
    outputs = np.full((len(table), len(cached.classes)), np.nan, dtype=np.float32)
    outputs[rows] = cached.probs
    ctx.put("model_outputs", outputs)
    return result


def _limit_threads(workers: int | None) -> None:
    """``--workers`` caps torch's threads (training and embedding)."""
    if workers:
        import torch

        torch.set_num_threads(workers)


def _read_table(source: Path) -> pd.DataFrame | np.ndarray:
    suffix = source.suffix.lower()
    if suffix == ".npy":
        return np.load(source, allow_pickle=False)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(source)
    if suffix == ".csv":
        return pd.read_csv(source)
    if suffix == ".npz":
        with np.load(source, allow_pickle=False) as z:
            if "path" in z.files:
                names = [k for k in z.files if k != "path"]
                if len(names) != 1:
                    raise BadInputError(f"--features {source}: a keyed .npz holds 'path' and one "
                                        f"feature array; found {', '.join(names) or 'none'}")
                feats = np.asarray(z[names[0]], dtype=np.float32).reshape(len(z["path"]), -1)
                frame = pd.DataFrame(feats)
                frame.insert(0, "path", z["path"].astype(str))
                return frame
            if len(z.files) != 1:
                raise BadInputError(f"--features {source}: an .npz holds one array, or 'path' "
                                    f"and one feature array")
            return z[z.files[0]]
    raise BadInputError(f"--features {source}: use .parquet, .csv, .npz or .npy")


def load_features(path, paths, rows=None) -> np.ndarray:
    """User-supplied features for the table rows ``rows`` (all by default): a table with a
    ``path`` column (relative to the dataset root; every one of those rows must be there, and
    no path outside the dataset), or rows in the dataset's index order."""
    source = Path(path)
    paths = np.asarray(paths, dtype=object)
    rows = np.arange(len(paths)) if rows is None else np.asarray(rows)
    try:
        data = _read_table(source)
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"--features {source}: cannot read ({exc})") from None
    if isinstance(data, pd.DataFrame) and "path" in data.columns:
        keyed = data["path"].astype(str).str.replace("\\", "/", regex=False) \
            .str.removeprefix("./")
        numeric = data.drop(columns=["path"]).select_dtypes("number")
        if numeric.shape[1] == 0:
            raise BadInputError(f"--features {source}: no numeric columns beside 'path'")
        dup = keyed[keyed.duplicated()]
        if len(dup):
            raise BadInputError(f"--features {source}: {len(dup):,} paths appear twice "
                                f"(e.g. {dup.iloc[0]})")
        where = pd.Series(np.arange(len(keyed)), index=keyed.to_numpy())
        wanted = paths[rows].astype(str)
        missing = [p for p in wanted if p not in where.index]
        if missing:
            raise BadInputError(f"--features {source} lacks {len(missing):,} of the dataset's "
                                f"{len(wanted):,} labelled images (e.g. {missing[0]})")
        extra = sorted(set(keyed) - set(paths.astype(str)))
        if extra:
            raise BadInputError(f"--features {source} has {len(extra):,} paths that are not in "
                                f"the dataset (e.g. {extra[0]}); paths are relative to the "
                                f"dataset root")
        return numeric.to_numpy(dtype=np.float32)[where[wanted].to_numpy()]
    feats = data.select_dtypes("number").to_numpy() if isinstance(data, pd.DataFrame) else data
    feats = np.asarray(feats, dtype=np.float32).reshape(len(feats), -1)
    if len(feats) != len(paths):
        raise BadInputError(f"--features {source} has {len(feats):,} rows but the dataset has "
                            f"{len(paths):,} images (one row per image, in index order, or a "
                            f"'path' column)")
    return feats[rows]


def _line(f) -> str:
    if f.get("kind") == "label_conflict":
        return f"duplicates labelled {f.get('given')}: {f.get('path')}"
    score = f.get("score")
    score = f"{score:.3f}" if isinstance(score, (int, float)) else "-"
    return f"{f.get('given')} -> {f.get('suggested')}, score {score}: {f.get('path')}"


register(Check(
    name="label_noise", title="Label issues", order=50,
    shape="images", nouns=("label issue", "label issues"),
    doc="Suspected label errors: cross-validated models + confident learning.",
    run=_run, options=("label_noise",),
    columns=(("given", "given"), ("suggested", "suggested"), ("score", "score"),
             ("path", "file"), ("split", "split")),
    line=_line,
    severity=lambda row: "warn",
))
