"""Candidate copy pairs: the searches that propose pairs for :mod:`.copies` to verify.

The perceptual hash within its radius (multi-index hashing, :mod:`.neighbors`), every image's
full hash against the other images' variant hashes (mirrored, rotated, cropped, captioned,
framed: :mod:`datacheck.features.variants`), the two caption windows against each other, and
aligned small thumbnails (:mod:`.small_copies`, unless the dataset is crowded). One candidate
per pair, with the search that found it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features import variants
from . import small_copies, small_frames
from .neighbors import hamming_cross, hamming_pairs
from .similar import _gray


def small_crowd(hashes: np.ndarray, radius: int, new: np.ndarray | None = None, *,
                workers: int | None = None) -> tuple[int, np.ndarray]:
    """(pairs, degree per image) of the perceptual-hash candidate pairs among small images
    (``hashes``), what :func:`small_copies.crowded` decides on; with ``new`` (positions), only
    the pairs that involve one of them."""
    if new is None:
        a, b, _ = hamming_pairs(hashes, radius, workers=workers)
    else:
        a, m, _ = hamming_cross(hashes, hashes[new], radius, workers=workers)
        b = new[m]
        is_new = np.zeros(len(hashes), dtype=bool)
        is_new[new] = True
        keep = (a != b) & (~is_new[a] | (a < b))  # a pair of two new images once
        a, b = a[keep], b[keep]
    return len(a), np.bincount(a, minlength=len(hashes)) + np.bincount(b, minlength=len(hashes))


def candidates(table, usable, small, variants_of, thumbs_of, options, hash_name,
                workers, crowded: bool | None = None, known_codes=None) -> dict[str, np.ndarray]:
    """Candidate pairs (row i < row j) with the Hamming distance of the search that found them
    and ``via``: ``hash`` (the perceptual hash), ``variant`` or ``small``; ``framed``, per
    usable row, whether the image has a plain border (its trimmed hash differs);
    ``aligned_small``, whether small pairs are aligned (sparse mode, see small_copies); and
    ``small``, what the aligned search read, for the verification to reuse: (the small
    images' rows, their grey thumbnails, :func:`small_frames.frames` of them without the
    windows), else None.
    ``crowded``: the small images' mode when already decided (:func:`small_crowd`);
    ``known_codes``: a :class:`known_codes.KnownCodes` to keep the small images' codes in."""
    framed = np.zeros(len(usable), dtype=bool)
    seen = None
    hashes = table["hash"].to_numpy()[usable].astype(np.int64)
    a, b, d = hamming_pairs(hashes, options.radius(hash_name), workers=workers)
    if small.sum() >= 2:
        both = small[a] & small[b]
        if crowded is None:
            crowded = small_copies.crowded(int(both.sum()), int(small.sum()))
        if crowded:
            keep = _crowd_survivors(table, usable, small, a, b, both, thumbs_of, options)
            a, b, d = a[keep], b[keep], d[keep]
    crowded = crowded is not False
    found = [_found(a, b, d, 0)]
    if options.variant_radius and (~small).sum() >= 2:
        big = np.flatnonzero(~small)
        var = variants_of(usable[big])
        framed[big] = var[:, variants.TRIMMED] != var[:, 0]
        found += _variant_candidates(var, big, options.variant_radius, workers)
    if small.sum() >= 2 and options.small_alignment and not crowded:
        tiny = np.flatnonzero(small)
        seen, owner, every = _small_seen(usable[tiny], thumbs_of)
        if known_codes is not None:
            known_codes.keep(table["digest"].to_numpy()[usable[tiny]], owner, every)
        sa, sb, sd = small_copies.candidates(owner, every, options.radius(hash_name),
                                             workers=workers)
        found.append(_found(tiny[sa], tiny[sb], sd, 2))
    return {**_one_per_pair(found, usable, framed, options.small_alignment and not crowded),
            "small": seen}


def candidates_touching(table, usable, small, new, variants_of, thumbs_of, options, hash_name,
                         workers, crowded: bool, known_codes=None) -> dict[str, np.ndarray]:
    """The candidates of :func:`candidates` that involve a usable row at one of the positions
    ``new``: each search run both ways between those rows and all rows, with the few new
    hashes as the database, so no table over every hash is built. ``crowded``: the small
    images' mode, decided by the caller on the whole dataset; ``known_codes``: a
    :class:`known_codes.KnownCodes` holding the small images' codes by content (only the
    thumbnails of the others are read)."""
    hashes = table["hash"].to_numpy()[usable].astype(np.int64)
    q, m, d = hamming_cross(hashes, hashes[new], options.radius(hash_name), workers=workers)
    q, m, d = q[q != new[m]], m[q != new[m]], d[q != new[m]]
    if crowded and small.sum() >= 2:
        both = small[q] & small[new[m]]
        keep = _crowd_survivors(table, usable, small, q, new[m], both, thumbs_of, options)
        q, m, d = q[keep], m[keep], d[keep]
    found = [_found(q, new[m], d, 0)]
    aligned_small = bool(options.small_alignment and not crowded)
    tiny = np.flatnonzero(small)
    new_tiny = np.flatnonzero(np.isin(tiny, new))
    seen = None
    if aligned_small and len(tiny) >= 2 and len(new_tiny):
        if known_codes is None:
            seen, owner, every = _small_seen(usable[tiny], thumbs_of)
        else:
            owner, every = known_codes.searched_codes(
                table["digest"].to_numpy()[usable[tiny]],
                lambda at: _gray(thumbs_of(usable[tiny[at]])))
        sa, sb, sd = small_copies.candidates_touching(owner, every, new_tiny,
                                                      options.radius(hash_name),
                                                      workers=workers)
        found.append(_found(tiny[sa], tiny[sb], sd, 2))
    framed = np.zeros(len(usable), dtype=bool)
    big = np.flatnonzero(~small)
    new = np.flatnonzero(np.isin(big, new))  # positions among the photos from here on
    if options.variant_radius and len(big) >= 2 and len(new):
        var = variants_of(usable[big])
        framed[big] = var[:, variants.TRIMMED] != var[:, 0]
        radius = options.variant_radius
        width = var.shape[1]
        hashes_v, index = variants.search_table(var)  # every image's variants ...
        q, m, d = hamming_cross(hashes_v, var[new, 0], radius, workers=workers)
        owner, kind = np.divmod(index[q], width)
        found.append(_found(big[new[m]], big[owner], d, 1, kind))  # ... against the new
        new_v, new_index = variants.search_table(var[new])  # the new ones' variants
        q, m, d = hamming_cross(var[:, 0], new_v, radius, workers=workers)
        new_owner, new_kind = np.divmod(new_index[m], width)
        found.append(_found(big[q], big[new[new_owner]], d, 1, new_kind))
        for column in variants.CAPTION:
            q, m, d = hamming_cross(np.ascontiguousarray(var[:, column]),
                                    np.ascontiguousarray(var[new, column]), radius,
                                    workers=workers)
            found.append(_found(big[q], big[new[m]], d, 1, np.full(len(q), column), both=True))
    found = [{k: v[f["a"] != f["b"]] for k, v in f.items()} for f in found]  # not with itself
    return {**_one_per_pair(found, usable, framed, aligned_small), "small": seen}


def _small_seen(rows: np.ndarray, thumbs_of) -> tuple[tuple, np.ndarray, np.ndarray]:
    """((rows, their grey thumbnails, their frames without the windows), and their
    :func:`small_copies.searched_codes` owner and codes): what the aligned small search reads
    and makes."""
    gray = _gray(thumbs_of(rows))
    framing = small_frames.frames(gray)
    owner, every = small_copies.searched_codes(gray, framing)
    framed, _, scale, boxes = framing
    return (rows, gray, (framed, None, scale, boxes)), owner, every


def _one_per_pair(found: list[dict], usable: np.ndarray, framed: np.ndarray,
                  aligned_small: bool) -> dict[str, np.ndarray]:
    """One candidate per pair of the searches' ``found`` pairs (see :func:`candidates`)."""
    cand = {key: np.concatenate([f[key] for f in found]) for key in found[0]}
    lo, hi = np.minimum(cand["a"], cand["b"]), np.maximum(cand["a"], cand["b"])
    pair = lo * len(usable) + hi
    # one row per pair: found by the perceptual hash if it was, else the closest match; the
    # closest variant match is kept either way (which variant, who was the query)
    first = _firsts(pair, cand["source"], cand["d"])
    variant = np.full(len(first), -1, np.int64)
    is_var = np.flatnonzero(cand["kind"] >= 0)
    if len(is_var):
        # the closest; among equally close ones the lowest variant, then query: the same
        # choice whatever order the searches ran in (a full or a limited search)
        best = is_var[_firsts(pair[is_var], cand["d"][is_var], cand["kind"][is_var],
                              cand["a"][is_var])]
        variant[np.searchsorted(pair[first], pair[best])] = best
    out = {"i": usable[lo[first]], "j": usable[hi[first]], "distance": cand["d"][first],
           "via": np.array(["hash", "variant", "small"], dtype=object)[cand["source"][first]],
           "kind": np.where(variant >= 0, cand["kind"][variant], -1),
           "query": usable[cand["a"][variant]], "owner": usable[cand["b"][variant]],
           "both": cand["both"][variant] & (variant >= 0)}
    return {**out, "framed": framed, "aligned_small": aligned_small}


def _crowd_survivors(table, usable, small, a, b, both, thumbs_of, options) -> np.ndarray:
    """Which hash pairs (positions in ``usable``) of a crowded dataset to keep: all but the
    small pairs that fail the unaligned test (:func:`small_copies.unaligned`) and are not
    byte-identical. Tested as they are found, so that millions of look-alike pairs
    (Fashion-MNIST: 7.4M) never fill the pair tables; the few hundred survivors are verified
    again with the other candidates."""
    tiny = np.flatnonzero(small)
    at = np.zeros(len(usable), dtype=np.int64)
    at[tiny] = np.arange(len(tiny))  # usable position -> row of the small images' thumbnails
    side = table[["width", "height"]].min(axis=1).to_numpy()[usable]
    pick = np.flatnonzero(both)
    ok, _ = small_copies.unaligned(_gray(thumbs_of(usable[tiny])), side[a[pick]],
                                   side[b[pick]], at[a[pick]], at[b[pick]], options)
    same = pd.factorize(table["digest"].to_numpy()[usable])[0]
    keep = np.ones(len(a), dtype=bool)
    keep[pick] = ok | (same[a[pick]] == same[b[pick]])
    return keep


def _firsts(pair: np.ndarray, *keys) -> np.ndarray:
    """Index of the first row of each distinct ``pair`` value, rows ordered by ``keys``
    (the result is sorted by pair)."""
    order = np.lexsort((*reversed(keys), pair))
    sorted_pair = pair[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_pair[1:] != sorted_pair[:-1]
    return order[first]


def _found(a, b, d, source: int, kind=None, both: bool = False) -> dict[str, np.ndarray]:
    """Candidate pairs from one search: ``a`` the image whose hash was the query, ``b`` the one
    it matched (for variants, the owner of the variant ``kind``; ``both``: the query's own
    variant of that kind matched, as for two caption windows)."""
    n = len(a)
    return {"a": np.asarray(a, np.int64), "b": np.asarray(b, np.int64),
            "d": np.asarray(d, np.int64), "source": np.full(n, source, np.int8),
            "kind": np.full(n, -1, np.int64) if kind is None else np.asarray(kind, np.int64),
            "both": np.full(n, both, dtype=bool)}


def _variant_candidates(var: np.ndarray, rows: np.ndarray, radius: int, workers) -> list[dict]:
    """Pairs (as rows) whose full hash matches the other's variant hash, or whose caption
    windows match each other."""
    db, index = variants.search_table(var)
    q, m, d = hamming_cross(var[:, 0], db, radius, workers=workers)
    owner, kind = np.divmod(index[m], var.shape[1])
    keep = owner != q
    out = [_found(rows[q[keep]], rows[owner[keep]], d[keep], 1, kind[keep])]
    for column in variants.CAPTION:
        ca, cb, cd = hamming_pairs(np.ascontiguousarray(var[:, column]), radius,
                                   workers=workers)
        out.append(_found(rows[ca], rows[cb], cd, 1, np.full(len(ca), column), both=True))
    return out
