"""Frames around small pictures (thumbnails <= 64 px): which grey thumbnails are a picture on a
plain border (white, black, grey; even or not), and the window inside, cut past the frame's
blend into the picture. :mod:`.small_copies` searches and verifies framed images through
their windows (see its docstring).
"""

from __future__ import annotations

import numpy as np

from ..features.variants import BORDER_TOL, trim_box, trim_boxes, window

#: Framed: plain borders on two sides or more cover at least this share of the image (a
#: frame 1 px on one side, which JPEG blurs into the picture, is seen on the others only):
#: planted frames 99% framed, CIFAR-10 test 3.5% (0.2: 94% and 2.6%) ...
FRAMED_AREA = 0.15
#: ... and the window inside keeps at least this share of each side (a small object on plain
#: sky is not a picture in a frame: its window, compared at 8 px, matches anything).
MIN_WINDOW = 0.5
#: ... and the picture fills the window's edges (see _filled; at FRAMED_AREA 0.2: planted
#: frames 98% framed, CIFAR-10 test 2.6%; 0.4: 98% and 3.3%; no such rule: 98% and 5%).
FILLED = 0.5
#: A framed window's sides are tightened past the frame's blend into the picture (see
#: _tightened): by at most this many whole rows a side ...
MAX_BLEND = 2
#: ... and only where the picture's lines differ from the frame colour by this many grey
#: levels on average (a bird on a white sky is too close to its "frame" to tell; at 24 one such
#: bird paired with another bird).
PICTURE_CONTRAST = 40.0


def frames(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(framed mask, windows, scale, boxes): which grey thumbnails are framed (a plain border
    on at least two sides, FRAMED_AREA of the image or more: a 1-px side blurred by JPEG is
    not seen as border; a window of at least MIN_WINDOW of each side, filled to its edges),
    the thumbnails with their borders trimmed (the others unchanged), the share of the side a
    window keeps (1 when not framed) and each window's (y0, y1, x0, x1) fractions."""
    g8 = np.clip(gray, 0, 255).astype(np.uint8)
    boxes = trim_boxes(g8)
    tall, wide = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    sides = ((boxes[:, 0] > 0).astype(int) + (boxes[:, 1] < 1) + (boxes[:, 2] > 0)
             + (boxes[:, 3] < 1))
    keeps = np.minimum(tall, wide)
    maybe = (sides >= 2) & (1 - tall * wide >= FRAMED_AREA) & (keeps >= MIN_WINDOW)
    framed = np.zeros(len(gray), dtype=bool)
    scale = np.ones(len(gray))
    for row in np.flatnonzero(maybe).tolist():
        box = tuple(boxes[row].tolist())
        if _filled(g8[row], box):
            box = _tightened(g8[row], box)
            framed[row] = True
            boxes[row] = box
            scale[row] = min(box[1] - box[0], box[3] - box[2])
    boxes[~framed] = (0.0, 1.0, 0.0, 1.0)
    return framed, windowed(gray, framed, boxes), scale, boxes


def _tightened(g: np.ndarray, box) -> tuple[float, float, float, float]:
    """A framed thumbnail's trim ``box`` with the frame's blend into the picture cut too.
    JPEG and resampling smear a frame's inner edge over a row or two, and a frame 1 px wide
    on one side is not trimmed at all: left in the window, such a line of frame colour
    dominates the detail correlation. On each side, the rows inside the box that are closer
    to the frame colour than half the picture is (the mean distance of the 3rd and 4th rows
    in) are cut, up to MAX_BLEND, and the next row by the share of frame it holds
    (1 - its distance / the picture's), as a sub-pixel edge."""
    n = g.shape[0]
    cut_sides = (box[0] > 0, box[1] < 1, box[2] > 0, box[3] < 1)
    edges = (g[0], g[-1], g[:, 0], g[:, -1])
    ref = _median(np.concatenate([e for t, e in zip(cut_sides, edges, strict=True) if t]))
    cuts = [box[0], 1 - box[1], box[2], 1 - box[3]]
    rows_from = (g, g[::-1], g.T, g.T[::-1])  # each side's lines, outermost first
    across_y = (int(np.ceil(box[0] * n)), int(np.floor(box[1] * n)))
    across_x = (int(np.ceil(box[2] * n)), int(np.floor(box[3] * n)))
    for side, lines in enumerate(rows_from):
        lo, hi = across_x if side < 2 else across_y
        first = int(cuts[side] * n)  # the first line not wholly cut
        if first + 3 >= n:
            continue
        off = np.abs(lines[first:first + 4, lo:hi].astype(np.float64) - ref).mean(axis=1)
        picture = max(off[2], off[3])
        if picture < PICTURE_CONTRAST:
            continue
        k = 0
        while k < MAX_BLEND and off[k] < 0.5 * picture:
            k += 1
        share = min(max(1.0 - off[k] / picture, 0.0), 1.0)
        cuts[side] = max(cuts[side], (first + k + share) / n)
    return (cuts[0], 1 - cuts[1], cuts[2], 1 - cuts[3])


def framing_of(framing, at: np.ndarray, seen: np.ndarray, n: int):
    """:func:`frames` without the windows (None: see :func:`windowed`) of ``n`` thumbnails,
    taken from ``framing`` (the frames of other thumbnails, without windows) at ``at`` where
    ``seen``; the others are not framed."""
    framed, _, scale, boxes = framing
    out = (np.zeros(n, dtype=bool), None, np.ones(n), np.tile([0.0, 1.0, 0.0, 1.0], (n, 1)))
    for whole, part in ((out[0], framed), (out[2], scale), (out[3], boxes)):
        whole[seen] = part[at[seen]]
    return out


def windowed(gray: np.ndarray, framed: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The windows :func:`frames` gives, from its mask and boxes: the framed thumbnails of
    ``gray`` resampled inside their boxes, the others unchanged. (A search holds its frames
    without them: 4 KB a thumbnail.)"""
    windows = np.array(gray, dtype=np.float32, copy=True)
    for row in np.flatnonzero(framed).tolist():
        windows[row] = window(gray[row], tuple(boxes[row].tolist()))
    return windows


def _filled(g: np.ndarray, box) -> bool:
    """Whether the picture fills its window up to the edges: on the trimmed sides, one of the
    lines 1-3 px inside the window (JPEG ringing can hide a frame's inner edge) differs from
    the border colour over FILLED of its length or more (a frame's picture does; an object
    on plain sky touches its bounding box at a few pixels)."""
    n = g.shape[0]
    y0, y1 = int(round(box[0] * n)), int(round(box[1] * n)) - 1
    x0, x1 = int(round(box[2] * n)), int(round(box[3] * n)) - 1
    shares = []
    for trimmed, edge, step in ((box[0] > 0, g[0], lambda k: g[min(y0 + k, n - 1), x0:x1 + 1]),
                                (box[1] < 1, g[-1], lambda k: g[max(y1 - k, 0), x0:x1 + 1]),
                                (box[2] > 0, g[:, 0], lambda k: g[y0:y1 + 1, min(x0 + k, n - 1)]),
                                (box[3] < 1, g[:, -1], lambda k: g[y0:y1 + 1, max(x1 - k, 0)])):
        if trimmed:
            ref = _median(edge)
            shares.append(max(float(np.mean(np.abs(step(k).astype(np.float64) - ref)
                                            > BORDER_TOL)) for k in (1, 2, 3)))
    return bool(shares) and float(np.mean(shares)) >= FILLED


def _median(values: np.ndarray) -> float:
    """``np.median`` of a short 1-D array, without its overhead (~10x faster at 32 values)."""
    ordered = np.sort(values)
    n = len(ordered)
    return (float(ordered[(n - 1) // 2]) + float(ordered[n // 2])) / 2


def trimmed(g: np.ndarray) -> np.ndarray:
    """A grey thumbnail with the plain edges it still has trimmed (a frame whose outer ring
    hid it shows once cropped)."""
    box = trim_box(np.clip(g, 0, 255).astype(np.uint8))
    return g if box == (0.0, 1.0, 0.0, 1.0) else window(g, box)
