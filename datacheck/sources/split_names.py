"""Split names: the canonical ones, their common spellings, and the order reports use."""

from __future__ import annotations

from collections.abc import Mapping

#: Canonical split names, in the order reports list them.
SPLITS = ("train", "train-val", "val", "test-val", "test")
NO_SPLIT = "all"

#: Common spellings accepted without a mapping.
SPLIT_ALIASES = {
    "training": "train",
    "trainval": "train-val",
    "train_val": "train-val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "testval": "test-val",
    "test_val": "test-val",
    "testing": "test",
}


def split_order(names) -> list[str]:
    """Canonical splits first (train ... test), then any others alphabetically."""
    rank = {s: i for i, s in enumerate(SPLITS + (NO_SPLIT,))}
    return sorted(set(names), key=lambda s: (rank.get(s, len(rank)), s))


def canonical_split(name: str, mapping: Mapping[str, str] | None = None) -> str | None:
    """The canonical split for a folder or manifest value, or None when it is not a split."""
    mapping = mapping or {}
    if name in mapping:
        return mapping[name]
    low = name.lower()
    if low in SPLITS:
        return low
    return SPLIT_ALIASES.get(low)
