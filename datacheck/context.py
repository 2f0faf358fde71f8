"""What one audit computes once and every check shares: the scanned table, the open feature
store, the options, earlier checks' results and memoised intermediate values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .features.cache import FeatureCache
from .sources.dataset import Dataset

if TYPE_CHECKING:  # checks import the context; the context only names their result type
    from .checks import CheckResult


@dataclass
class AuditContext:
    dataset: Dataset
    #: One row per image: the index columns plus digest, problem and the decoded features.
    table: pd.DataFrame
    #: The feature cache, open for the whole audit, and the feature config the table came from.
    store: FeatureCache
    config: str
    #: Option group name -> options instance (see :mod:`datacheck.options`).
    options: dict[str, Any]
    #: The checks this audit runs, and whether the user named them.
    checks: list[str]
    explicit: bool
    seed: int = 0
    progress: bool = True
    #: Results of the checks that already ran, by name.
    results: dict[str, CheckResult] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def thumbs(self, rows) -> np.ndarray:
        """RGB thumbnails (len(rows) x 32 x 32 x 3 uint8) of table rows."""
        digests = self.table["digest"].to_numpy()[rows]
        return self.store.thumbs([d or "" for d in digests], self.config)

    def variants(self, rows) -> np.ndarray:
        """Variant hashes (len(rows) x len(variants.VARIANT_NAMES) uint64) of table rows."""
        digests = self.table["digest"].to_numpy()[rows]
        return self.store.variants([d or "" for d in digests], self.config)

    def read(self, row: int) -> bytes:
        """The bytes of the file of a table row."""
        return self.dataset.source.read(self.table["path"].iat[row])

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per audit, under ``key`` (e.g. the verified copy pairs)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def put(self, key: str, value: Any) -> None:
        """Share a value a later check may read with :meth:`get` (e.g. model outputs)."""
        self._memo[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._memo.get(key, default)

    @property
    def workers(self) -> int | None:
        return self.options["scan"].workers
