"""The cache survives a killed run and concurrent audits."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd

from datacheck import audit
from tests.helpers import NO_MODEL, distinct_patches, save


def make_dataset(root, n=300):
    patches = distinct_patches(60, size=64, seed=5)
    for k in range(n):
        img = patches[k % 60].rotate(6 * (k // 60))
        save(img, root / "train" / ("a" if k % 2 else "b") / f"{k:04d}.png")


def cached_rows(cache) -> int:
    try:
        db = sqlite3.connect(cache / "cache.sqlite", timeout=5)
        try:
            return db.execute("SELECT count(*) FROM features").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def start_audit(root, cache, batch="8"):
    env = {**os.environ, "DATACHECK_BATCH": batch}
    return subprocess.Popen([sys.executable, "-m", "datacheck", "audit", str(root), "--checks",
                             ",".join(NO_MODEL), "--cache", str(cache), "--workers", "1",
                             "--format", "json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_kill_9_mid_audit_then_rerun_repeats_at_most_the_unfinished_batch(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    make_dataset(root)
    proc = start_audit(root, cache)
    deadline = time.time() + 120
    while cached_rows(cache) < 40 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = cached_rows(cache)
    assert 40 <= stored < 300, "the audit finished or never started before the kill"
    report = audit(root, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert report.stats["decoded"] == 300 - stored
    assert audit(root, checks=NO_MODEL, cache_dir=cache, progress=False).stats["decoded"] == 0


def test_concurrent_audits_share_one_cache(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    make_dataset(root, n=200)
    procs = [start_audit(root, cache) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outputs]
    assert outputs[0][0] == outputs[1][0]
    assert audit(root, checks=NO_MODEL, cache_dir=cache, progress=False).stats["decoded"] == 0


def test_the_feature_snapshot_serves_only_rows_the_database_holds(tmp_path):
    """Scalar features come back from features-<config>.parquet, which the first audit
    writes, as the database has them; a snapshot left beside a new, empty database, or a
    damaged one, changes no finding."""
    from datacheck.features.cache import FeatureCache

    root, cache = tmp_path / "data", tmp_path / "cache"
    make_dataset(root, n=120)
    first = audit(root, checks=NO_MODEL, cache_dir=cache, progress=False)
    [snapshot] = cache.glob("features-*.parquet")
    assert len(pd.read_parquet(snapshot)) == 120  # the first audit's rows, decoded ones too
    config = snapshot.name[len("features-"):-len(".parquet")]
    store = FeatureCache(cache)
    try:
        digests = first.images["digest"].tolist()
        from_snapshot = store.features(digests, config)
        snapshot.unlink()
        from_database = store.features(digests, config)
    finally:
        store.close()
    assert len(from_database) == 120
    pd.testing.assert_frame_equal(
        from_snapshot.sort_values("digest", ignore_index=True),
        from_database.sort_values("digest", ignore_index=True))
    again = audit(root, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert again.stats["decoded"] == 0 and again.to_dict()["checks"] == first.to_dict()["checks"]
    for name in ("cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm"):
        (cache / name).unlink(missing_ok=True)
    fresh = audit(root, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert fresh.stats["decoded"] == 120  # the snapshot alone is not a cache
    assert fresh.to_dict()["checks"] == first.to_dict()["checks"]
    snapshot.write_bytes(b"not parquet")
    damaged = audit(root, checks=NO_MODEL, cache_dir=cache, progress=False)
    assert damaged.stats["decoded"] == 0
    assert damaged.to_dict()["checks"] == first.to_dict()["checks"]


def test_a_rerun_scans_the_same_table_as_the_first_run(tmp_path):
    """An audit from the cache and the one that decoded give the checks the same table,
    column types included (a re-run once got every feature column as Python objects)."""
    from datacheck import load_dataset
    from datacheck.features.scan import scan

    root, cache = tmp_path / "data", tmp_path / "cache"
    make_dataset(root, n=40)
    (root / "train" / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    first = scan(load_dataset(root), cache_dir=cache, progress=False)
    again = scan(load_dataset(root), cache_dir=cache, progress=False)
    assert first.attrs["decoded"] == 41 and again.attrs["decoded"] == 0
    assert first["brightness"].dtype == "float64" and first["hash"].dtype == "int64"
    pd.testing.assert_frame_equal(first.sort_values("path", ignore_index=True),
                                  again.sort_values("path", ignore_index=True))
