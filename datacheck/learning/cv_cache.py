"""Cached cross-validation: out-of-fold probabilities kept in the feature-cache folder.

A result is stored under a key made of everything that decides it: the content digests and
labels of the rows in table order, the model's training recipe (:class:`recipes.Recipe`, which
carries a version bumped when training changes), the number of folds, the seed, the device kind,
what the model reads (the thumbnail config, a features file's values, or an ``--embed``
model's identity) and the budget options (``--train-minutes``, ``--train-images``). The plan a
budget buys depends on the machine's measured speed and is stored with the result, not keyed:
an unchanged re-audit on the same data finds it whatever the machine's load, reads the
probabilities back and trains nothing.

What invalidates: any relabel, added/removed/modified image, reordering of rows (a rename that
moves a file in the sorted order changes the folds), other folds/seed/epochs/model/device, other
features or embedding model. The whole cross-validation is then retrained: folds are stratified
over all rows, so one changed row moves others between folds and a per-fold reuse would let a
model score images it trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FOLDER = "cv"
#: Results kept; the oldest beyond this are removed when a new one is written.
KEEP = 32


@dataclass(frozen=True)
class Result:
    """A cached cross-validation: out-of-sample probabilities (columns = ``classes``), each
    row's fold (-1: outside the training sample), accuracy and the budget's plan."""

    probs: np.ndarray
    classes: np.ndarray
    fold: np.ndarray
    accuracy: float
    plan: dict | None = None


def key(digests, labels, recipe, *, folds: int, seed: int, device: str, inputs: str,
        budget: dict | None = None) -> str:
    """Hex key of one cross-validation (see the module docstring for what it covers)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"recipe": asdict(recipe), "folds": folds, "seed": seed,
                         "device": device, "inputs": inputs, "budget": budget},
                        sort_keys=True).encode())
    for d, lab in zip(digests, labels):
        h.update(f"{d}\t{lab}\n".encode())
    return h.hexdigest()


def array_id(x: np.ndarray) -> str:
    """Identity of a feature matrix (its bytes and shape)."""
    x = np.ascontiguousarray(x)
    return f"{x.dtype}{x.shape}:" + hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest()


def load(folder: str | os.PathLike, k: str) -> Result | None:
    """The result stored under ``k``, or None."""
    path = Path(folder) / FOLDER / f"{k}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            plan = json.loads(str(z["plan"])) if "plan" in z.files else None
            return Result(z["probs"], z["classes"], z["fold"], float(z["accuracy"]), plan)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: retrain and overwrite
        log.warning("cached cross-validation %s is unreadable (%s); retraining", path, exc)
        return None


def save(folder: str | os.PathLike, k: str, result: Result) -> None:
    """Store ``result`` under ``k`` (written whole, then renamed: an interrupted save leaves
    no partial file behind)."""
    base = Path(folder) / FOLDER
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".{k}.{os.getpid()}.npz"
        np.savez(tmp, probs=np.asarray(result.probs, np.float32),
                 classes=np.asarray(result.classes).astype(str), fold=np.asarray(result.fold),
                 accuracy=np.float64(result.accuracy), plan=json.dumps(result.plan))
        tmp.replace(base / f"{k}.npz")
        old = sorted(base.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-KEEP]
        for path in old:
            path.unlink(missing_ok=True)
    except OSError as exc:  # a read-only cache folder costs the next audit a retrain, no more
        log.warning("cannot cache the cross-validation in %s (%s)", base, exc)
