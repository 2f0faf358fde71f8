"""Decoding on a Dask LocalCluster gives the same audit as local processes."""

import pytest

from datacheck import audit
from tests.helpers import NO_MODEL, plant_copies

distributed = pytest.importorskip("distributed")


def test_local_cluster_matches_local_run(clean_dataset, tmp_path):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    plant_copies(clean_dataset, train[:4])
    local = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  local_directory=tmp_path / "dask-workers") as cluster:
        remote = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "dask", progress=False,
                       scheduler=cluster.scheduler_address)
    assert remote.stats["decoded"] == local.stats["decoded"] == 52
    assert remote.to_dict() == local.to_dict()
    assert remote.checks["leakage"].metrics["pairs"] == 4


def test_unreachable_scheduler_is_a_clean_error(clean_dataset, tmp_path, monkeypatch):
    from datacheck import BadInputError

    # distributed retries a refused connection until the client's timeout (10 s): 1 s here
    client = distributed.Client
    monkeypatch.setattr(distributed, "Client",
                        lambda address, timeout=None, **kw: client(address, timeout=1, **kw))
    with pytest.raises(BadInputError, match="cannot reach the Dask scheduler"):
        audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False,
              scheduler="tcp://127.0.0.1:1")
