import numpy as np
import pytest

from datacheck.matching.neighbors import clusters, hamming_cross, hamming_pairs, plan


def brute_force(h: np.ndarray, threshold: int) -> set[tuple[int, int, int]]:
    """Independent reference: XOR every pair, count bits with numpy."""
    u = h.view(np.uint64)
    x = u[:, None] ^ u[None, :]
    d = np.unpackbits(x.view(np.uint8), axis=-1).reshape(len(u), len(u), 64).sum(-1)
    i, j = np.nonzero(np.triu(d <= threshold, k=1))
    return set(zip(i.tolist(), j.tolist(), d[i, j].tolist()))


def as_set(result) -> set[tuple[int, int, int]]:
    i, j, d = result
    return set(zip(i.tolist(), j.tolist(), d.tolist()))


def flipped(rng, base: np.ndarray, max_bits: int) -> np.ndarray:
    out = base.view(np.uint64).copy()
    for k in range(len(out)):
        for b in rng.choice(64, rng.integers(0, max_bits + 1), replace=False):
            out[k] ^= np.uint64(1) << np.uint64(b)
    return out.view(np.int64)


def random_hashes(rng, n):
    return rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)


@pytest.mark.parametrize("threshold", [0, 1, 3, 6, 10, 12])
@pytest.mark.parametrize("method", ["mih", "brute"])
def test_random_hashes_with_planted_pairs(threshold, method):
    rng = np.random.default_rng(threshold)
    base = random_hashes(rng, 1500)
    h = np.concatenate([base, flipped(rng, base[:300], threshold + 2)])
    expected = brute_force(h, threshold)
    assert len(expected) > 100  # planted pairs exist at every threshold
    assert as_set(hamming_pairs(h, threshold, method=method)) == expected


@pytest.mark.parametrize("threshold", [2, 8, 10])
def test_clustered_hashes(threshold):
    """Dense clusters (many copies of few images) put thousands of items in one bucket."""
    rng = np.random.default_rng(1)
    centres = random_hashes(rng, 12)
    h = np.concatenate([flipped(rng, np.repeat(centres, 120), 6), random_hashes(rng, 200)])
    rng.shuffle(h)
    expected = brute_force(h, threshold)
    assert len(expected) > 5000
    assert as_set(hamming_pairs(h, threshold, method="mih")) == expected


@pytest.mark.parametrize("threshold", [0, 4, 8])
def test_cross_search_matches_brute_force(threshold):
    """Queries against a database 25x larger (dense tables, bits dealt into substrings):
    every pair within the radius, nothing else, sorted by (query, database)."""
    rng = np.random.default_rng(10 + threshold)
    database = random_hashes(rng, 20000)
    queries = np.concatenate([flipped(rng, database[:400], threshold + 2),
                              random_hashes(rng, 400)])
    expected = []
    for q in range(len(queries)):
        x = queries.view(np.uint64)[q] ^ database.view(np.uint64)
        d = np.unpackbits(x.view(np.uint8)).reshape(-1, 64).sum(-1)
        expected += [(q, int(j), int(d[j])) for j in np.flatnonzero(d <= threshold)]
    i, j, dist = hamming_cross(queries, database, threshold)
    assert len(expected) > 100
    assert list(zip(i.tolist(), j.tolist(), dist.tolist())) == expected


def test_output_is_sorted_and_typed():
    rng = np.random.default_rng(2)
    base = random_hashes(rng, 400)
    i, j, d = hamming_pairs(np.concatenate([base, base[:50]]), 4, method="mih")
    assert (i < j).all()
    assert np.all(np.diff(i * 10_000 + j) > 0)
    assert d.dtype == np.int8 and (d == 0).all() and len(i) == 50


def test_plan_obeys_pigeonhole():
    for n in (10, 10_000, 1_000_000):
        for threshold in range(0, 17):
            widths, radii = plan(n, threshold)
            assert sum(widths) == 64
            assert sum(r + 1 for r in radii) == threshold + 1


def test_uint64_and_int64_inputs_agree():
    rng = np.random.default_rng(3)
    h = random_hashes(rng, 500)
    a = hamming_pairs(h, 20)
    b = hamming_pairs(h.view(np.uint64), 20)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_clusters_are_connected_components():
    ids = clusters(6, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert ids[0] == ids[1] == ids[2] and ids[4] == ids[5] and ids[0] != ids[4]
    assert ids[3] == -1
    assert (clusters(3, np.array([], int), np.array([], int)) == -1).all()
