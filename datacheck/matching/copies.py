"""Copies among the scanned images: candidate pairs from hash searches, verified, each with the
kind of copy it is (the pairs the duplicates and leakage checks report).

Candidates (all exact searches):
- the perceptual hash within ``threshold`` bits (re-encoded, resized, lightly edited copies);
- every image's full variant hash among the other images' variant hashes within
  ``variant_radius`` bits (:mod:`datacheck.features.variants`: mirrored, rotated, cropped 15-25%,
  captioned, framed copies), and caption window against caption window (a bar painted over);
- small images (both sides <= 64 px): shifted / zoomed / mirrored codes of the thumbnails
  (:mod:`datacheck.matching.small_copies`).

Verification: identical bytes are ``exact``. Small pairs are aligned and compared on their
thumbnails (:mod:`datacheck.matching.small_copies`). Photo pairs that the perceptual hash found are
compared on their thumbnails first (:mod:`datacheck.matching.similar`: correlation, and an aligned
correlation below 0.97). Pairs the thumbnails reject, and pairs that only a variant hash found,
are re-read and matched with local features under a similarity transform plus a dense check
(:mod:`datacheck.matching.geometry`): thumbnails of different photos with one layout (two patches of
sky with an edge) correlate like a crop of one photo, local features do not.
Every verified pair gets a ``transform``: none, rescaled, recoloured, cropped, mirrored,
rotated 90/180/270, overlay, shifted.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..features import variants
from ..features.images import SMALL_SIDE
from ..features.parallel import available_cores
from ..options import group, option
from . import small_copies, small_frames
from .candidates import candidates, candidates_touching, small_crowd
from .similar import (
    ALIGN_BELOW,
    MIN_ALIGNED,
    _gray,
    aligned_similarity,
    pair_scores,
    view_similarity,
)

if TYPE_CHECKING:
    from ..context import AuditContext

PAIR_COLUMNS = ["i", "j", "kind", "distance", "similarity", "transform"]
#: Hamming radius per hash kind that catches re-encoded, resized and lightly edited copies.
DEFAULT_THRESHOLD = {"phash": 10, "dhash": 10, "ahash": 6, "whash": 6}
#: Variant matches are worth reading the files for when their thumbnails, seen through the
#: variant and aligned, correlate at least this (see _worth_reading).
MIN_VIEW = 0.75
#: Photo pairs whose mean colour differs by more than this (share of the range, any channel)
#: are named ``recoloured`` rather than ``none``.
RECOLOURED = 0.04


@group("copies", order=20)
@dataclass(frozen=True)
class CopyOptions:
    """How exact and near copies are found (the duplicates and leakage checks)."""

    threshold: int | None = option(
        None, "Hamming radius in bits for near duplicates [default: 10 for phash].",
        minimum=0, maximum=32)
    variant_radius: int = option(
        8, "Hamming radius for mirrored, rotated, cropped, captioned or framed copies "
        "(variant hashes); 0 turns that search off.", minimum=0, maximum=16)
    min_similarity: float = option(
        0.75, "Thumbnail correlation a near-duplicate candidate must reach.",
        minimum=-1.0, maximum=1.0)
    min_similarity_small: float = option(
        0.90, "The same, when both images have a side <= 64 px.", minimum=-1.0, maximum=1.0)
    max_residual_small: float = option(
        0.25, "Small pairs only: after fitting one image's grey levels to the other's, at most "
        "0.5% of pixels may differ by more than this (share of the range).", minimum=0.0)
    small_alignment: bool = option(
        True, "Small images (<= 64 px) of a dataset that is not a crowd of look-alikes: also "
        "search shifted, re-cropped, rescaled and mirrored copies, verified after alignment.")

    def radius(self, hash_name: str) -> int:
        """The Hamming radius to search (the option, else the hash's default)."""
        return self.threshold if self.threshold is not None else \
            DEFAULT_THRESHOLD.get(hash_name, 10)

    def resolved(self, options: dict) -> dict:
        """Report settings that depend on other groups: the radius of the hash in use."""
        return {"threshold": self.radius(options["scan"].hash)}


def copy_pairs(ctx: AuditContext) -> pd.DataFrame:
    """The verified copy pairs of an audit, computed once and shared by its checks; the pairs
    among images an earlier audit already searched come from :mod:`.known_pairs`."""
    from . import known_pairs
    from .known_codes import KnownCodes

    options = ctx.options["copies"]
    radius = options.radius(ctx.options["scan"].hash)
    key = known_pairs.key(ctx.config, options)

    def search(touching: np.ndarray | None, crowded: bool | None) -> pd.DataFrame:
        return find_copies(ctx.table, ctx.thumbs, ctx.variants, ctx.read, options,
                           hash_name=ctx.options["scan"].hash, workers=ctx.workers,
                           touching=touching, crowded=crowded,
                           known_codes=KnownCodes(ctx.store.folder, key))

    def crowd(hashes: np.ndarray, new: np.ndarray | None) -> tuple[int, np.ndarray]:
        return small_crowd(hashes, radius, new, workers=ctx.workers)

    def compute() -> pd.DataFrame:
        return known_pairs.copy_pairs(ctx.table, search, crowd, ctx.store.folder, key)
    return ctx.shared("copy_pairs", compute)


def find_copies(table: pd.DataFrame, thumbs_of: Callable[[np.ndarray], np.ndarray],
                variants_of: Callable[[np.ndarray], np.ndarray],
                read: Callable[[int], bytes], options: CopyOptions, *, hash_name: str = "phash",
                workers: int | None = None, touching: np.ndarray | None = None,
                crowded: bool | None = None, known_codes=None) -> pd.DataFrame:
    """Verified pairs of rows (i < j, row positions in ``table``) that are copies.

    ``thumbs_of(rows)`` / ``variants_of(rows)`` give the thumbnails / variant hashes of rows,
    ``read(row)`` a file's bytes. Columns: ``kind`` (exact for identical bytes, else near),
    ``distance`` (Hamming bits of the hash that found it), ``similarity`` (thumbnail
    correlation, or the dense agreement of a geometric match; 1.0 for exact copies) and
    ``transform``. ``touching`` (a boolean mask of rows) limits the search to the pairs that
    involve one of those rows. ``crowded``: the small images' mode (small_copies.crowded),
    decided on the whole dataset; needed with ``touching`` when there are small images.
    ``known_codes``: a :class:`known_codes.KnownCodes` keeping the small images' search codes
    by content, so that a search ``touching`` some rows reads only their thumbnails.
    """
    usable = np.flatnonzero(table["problem"].isna().to_numpy())
    if len(usable) < 2:
        return _frame([], [], [], [], [], [])
    side = table[["width", "height"]].min(axis=1).to_numpy()
    small = side[usable] <= SMALL_SIDE
    if touching is None:
        cand = candidates(table, usable, small, variants_of, thumbs_of, options, hash_name,
                           workers, crowded, known_codes)
    elif small.sum() >= 2 and crowded is None:
        raise ValueError("a search limited to some rows needs the small images' mode")
    else:
        cand = candidates_touching(table, usable, small, np.flatnonzero(touching[usable]),
                                    variants_of, thumbs_of, options, hash_name, workers,
                                    bool(crowded), known_codes)
    i, j, dist, via = cand["i"], cand["j"], cand["distance"], cand["via"]
    framed = np.zeros(len(table), dtype=bool)
    framed[usable] = cand["framed"]
    digests = table["digest"].to_numpy()
    exact = digests[i] == digests[j]
    sim = np.ones(len(i), dtype=np.float64)
    transform = np.full(len(i), "none", dtype=object)
    keep = exact.copy()
    both_small = (side[i] <= SMALL_SIDE) & (side[j] <= SMALL_SIDE)
    near = np.flatnonzero(~exact)
    if len(near):
        rows = np.unique(np.concatenate([i[near], j[near]]))
        rows, gray, framing = _grays(rows, thumbs_of, cand.pop("small"))
        a, b = np.searchsorted(rows, i[near]), np.searchsorted(rows, j[near])
        # photo pairs that only a variant hash found go straight to a geometric match on the
        # files (the thumbnails of different photos of one layout, e.g. two patches of sky
        # with an edge, correlate like a crop of one photo); the others first try the
        # thumbnails, and those they reject get the geometric match too when a variant hash
        # also matched (a caption bar or a watermark moves the thumbnail more than the hash)
        on_thumbs = both_small[near] | (via[near] == "hash")
        ok, score, name = _verify_thumbs(gray, side[i[near]], side[j[near]], a, b,
                                         both_small[near], on_thumbs, options,
                                         cand["aligned_small"], framing)
        # two photos in the same plain frame correlate through the frame: their contents must
        framed_pair = np.flatnonzero(ok & ~both_small[near] & framed[i[near]] & framed[j[near]])
        if len(framed_pair):
            inner = view_similarity(
                gray, a[framed_pair], b[framed_pair],
                np.full(len(framed_pair), variants.TRIMMED), np.ones(len(framed_pair), bool))
            ok[framed_pair] = inner >= MIN_VIEW
        geo = np.flatnonzero(~ok & ~both_small[near])
        geo = geo[_worth_reading(cand, near[geo], gray, rows, framed)]
        if len(geo):
            g_ok, g_score, g_name = _verify_files(i[near[geo]], j[near[geo]],
                                                  variants.mirrors(cand["kind"][near[geo]]),
                                                  read, workers)
            ok[geo], score[geo], name[geo] = g_ok, g_score, g_name
        keep[near], sim[near], transform[near] = ok, score, name
        _name_plain(table, i, j, keep & ~exact & (transform == "none"), transform)
    return _frame(i[keep], j[keep], exact[keep], dist[keep], sim[keep], transform[keep])


def _worth_reading(cand: dict, pick: np.ndarray, gray: np.ndarray, rows: np.ndarray,
                   framed: np.ndarray) -> np.ndarray:
    """Which of the candidates ``pick`` (indices into ``cand``) are worth a geometric match on
    the files: those a variant hash matched whose thumbnails, seen through that variant
    (mirrored, rotated, the window) and aligned (:func:`similar.aligned_similarity`), correlate
    at least MIN_VIEW (for a perceptual-hash match with a framed image: through its trimmed
    window). BSDS500 planted copies: 99% of the variant matches pass; 100k mosaics of its crops:
    480 of 9,069."""
    kind = cand["kind"][pick].copy()
    i, j = cand["i"][pick], cand["j"][pick]
    bare = (kind < 0) & (framed[i] | framed[j])
    kind[bare] = variants.TRIMMED
    query, owner = cand["query"][pick].copy(), cand["owner"][pick].copy()
    query[bare] = np.where(framed[j[bare]], i[bare], j[bare])  # the owner is a framed one
    owner[bare] = np.where(framed[j[bare]], j[bare], i[bare])
    both = cand["both"][pick] | (bare & framed[i] & framed[j])
    good = np.zeros(len(pick), dtype=bool)
    look = np.flatnonzero(kind >= 0)
    if len(look):
        good[look] = view_similarity(
            gray, np.searchsorted(rows, query[look]), np.searchsorted(rows, owner[look]),
            kind[look], both[look]) >= MIN_VIEW
    return good


def _name_plain(table: pd.DataFrame, i, j, plain: np.ndarray, transform: np.ndarray) -> None:
    """Name the verified pairs that no geometry was found for: another frame (the aspect
    differs by > 2%: cropped, or a bar added), else recoloured (mean colour moved), else
    rescaled (other size), else none."""
    w = table["width"].to_numpy(dtype=np.float64)
    h = table["height"].to_numpy(dtype=np.float64)
    aspect = np.log(np.maximum(w, 1) / np.maximum(h, 1))
    reframed = np.abs(aspect[i] - aspect[j]) > 0.02
    colour = table[["mean_r", "mean_g", "mean_b"]].to_numpy(dtype=np.float64)
    moved = np.abs(colour[i] - colour[j]).max(axis=1) > RECOLOURED
    resized = (w[i] != w[j]) | (h[i] != h[j])
    transform[plain & reframed] = "cropped"
    transform[plain & ~reframed & moved] = "recoloured"
    transform[plain & ~reframed & ~moved & resized] = "rescaled"


def _grays(rows: np.ndarray, thumbs_of, small) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """(Rows, their grey thumbnails, the frames of the small ones or None) for the sorted
    ``rows``: what the small images' search read (``small``: see :func:`candidates.candidates`)
    is reused, as it is (all its rows) when every row is small, and the rest read."""
    if small is None:
        return rows, _gray(thumbs_of(rows)), None
    small_rows, small_gray, framing = small
    at = np.minimum(np.searchsorted(small_rows, rows), len(small_rows) - 1)
    seen = small_rows[at] == rows
    if seen.all():
        return small_rows, small_gray, framing
    gray = np.empty((len(rows), *small_gray.shape[1:]), dtype=np.float32)
    gray[seen] = small_gray[at[seen]]
    gray[~seen] = _gray(thumbs_of(rows[~seen]))
    return rows, gray, small_frames.framing_of(framing, at, seen, len(rows))


def _verify_thumbs(gray, side_i, side_j, a, b, both_small, wanted, options, aligned_small,
                   framing=None):
    """(accepted, score, transform) of candidate pairs on their grey thumbnails (only the
    ``wanted`` ones; the others stay rejected). ``framing``: the frames of the small
    thumbnails, when known."""
    ok = np.zeros(len(a), dtype=bool)
    score = np.zeros(len(a), dtype=np.float64)
    name = np.full(len(a), "none", dtype=object)
    tiny = np.flatnonzero(both_small)
    if len(tiny):
        ok[tiny], score[tiny], name[tiny] = small_copies.verify(
            gray, side_i[tiny], side_j[tiny], a[tiny], b[tiny], options, aligned_small,
            framing)
    big = np.flatnonzero(~both_small & wanted)
    if len(big):
        sim, _ = pair_scores(gray, side_i[big], side_j[big], a[big], b[big])
        passed = sim >= options.min_similarity
        check = np.flatnonzero(passed & (sim < ALIGN_BELOW))
        if len(check):
            need, at = np.unique(np.concatenate([a[big][check], b[big][check]]),
                                 return_inverse=True)
            aligned = aligned_similarity(gray[need], at[:len(check)], at[len(check):])
            passed[check] = aligned >= MIN_ALIGNED
            name[big[check]] = "cropped"
        ok[big], score[big] = passed, sim
    return ok, score, name


def _verify_files(i: np.ndarray, j: np.ndarray, mirrored: np.ndarray,
                  read: Callable[[int], bytes], workers):
    """(accepted, agreement, transform) of photo pairs matched on their files; ``mirrored``:
    whether the variant that found the pair turns the image over (only that way round is
    matched: a third less work)."""
    import cv2

    from .geometry import verify_pair

    cv2.setNumThreads(1)

    def one(pair: tuple[int, int, bool]) -> tuple[bool, float, str]:
        try:
            accepted, transform, agreement = verify_pair(read(pair[0]), read(pair[1]),
                                                         mirrored=pair[2])
        except Exception:  # a file changed or vanished since the scan: not a verified copy
            return False, 0.0, "none"
        return accepted, agreement, transform

    with ThreadPoolExecutor(max(1, workers or available_cores())) as pool:
        results = list(pool.map(one, zip(i.tolist(), j.tolist(), mirrored.tolist())))
    ok = np.array([r[0] for r in results], dtype=bool)
    score = np.array([r[1] for r in results], dtype=np.float64)
    name = np.array([r[2] for r in results], dtype=object)
    return ok, score, name


def _frame(i, j, exact, dist, sim, transform) -> pd.DataFrame:
    """The pair table, typed even when empty (checks index arrays with its columns)."""
    return pd.DataFrame({
        "i": np.asarray(i, dtype=np.int64), "j": np.asarray(j, dtype=np.int64),
        "kind": np.where(np.asarray(exact, dtype=bool), "exact", "near").astype(object),
        "distance": np.asarray(dist, dtype=np.int64),
        "similarity": np.round(np.asarray(sim, dtype=np.float64), 4),
        "transform": np.asarray(transform, dtype=object),
    }, columns=PAIR_COLUMNS)
