"""Decoding on a Dask cluster (a LocalCluster, or real scheduler and worker processes) gives
the same audit as local processes, also when a worker dies mid-task."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from datacheck import audit
from tests.helpers import NO_MODEL, plant_copies, run_cli

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")


def test_local_cluster_matches_local_run(clean_dataset, tmp_path):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    plant_copies(clean_dataset, train[:4])
    local = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  local_directory=tmp_path / "dask-workers") as cluster:
        remote = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "dask", progress=False,
                       scheduler=cluster.scheduler_address)
        shown = run_cli("audit", clean_dataset, "--checks", "integrity", "--cache",
                        tmp_path / "cli", "--no-progress", "--scheduler",
                        cluster.scheduler_address, cwd=tmp_path)
    assert remote.stats["decoded"] == local.stats["decoded"] == 52
    assert remote.to_dict() == local.to_dict()
    assert remote.checks["leakage"].metrics["pairs"] == 4
    assert remote.stats["stages"]["decode"] == {"where": cluster.scheduler_address, "workers": 2}
    assert local.stats["stages"]["decode"]["where"] == "local"
    again = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "local", progress=False)
    assert again.stats["decoded"] == 0
    assert again.stats["stages"]["decode"] == {"where": "cache", "workers": 0}
    assert f"52 images decoded on {cluster.scheduler_address} (2 workers)" in shown.stderr


def test_unreachable_scheduler_is_a_clean_error(clean_dataset, tmp_path, monkeypatch):
    from datacheck import BadInputError

    # distributed retries a refused connection until the client's timeout (10 s): 1 s here
    client = distributed.Client
    monkeypatch.setattr(distributed, "Client",
                        lambda address, timeout=None, **kw: client(address, timeout=1, **kw))
    with pytest.raises(BadInputError, match="cannot reach the Dask scheduler"):
        audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "c", progress=False,
              scheduler="tcp://127.0.0.1:1")


class _ExitOnFirstTask(distributed.WorkerPlugin):
    """The first worker to start a task exits at once, as a killed process would."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing":
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return  # another worker was the one
        os._exit(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def real_cluster(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes (no nanny: a worker that dies
    stays dead) on 127.0.0.1; yields the scheduler's address."""
    dask = Path(sys.executable).parent / "dask"
    address = f"tcp://127.0.0.1:{_free_port()}"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], *common], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for k in range(2):
            procs.append(subprocess.Popen(
                [str(dask), "worker", address, "--nthreads", "1", "--no-nanny", *common,
                 "--local-directory", str(tmp_path / f"worker{k}")], cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a worker's graceful close can wait on the
                p.kill()                        # scheduler that is closing too
                p.wait(timeout=10)


def test_a_worker_killed_mid_decode_changes_nothing(clean_dataset, tmp_path, real_cluster):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    plant_copies(clean_dataset, train[:4])
    local = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "local", progress=False)
    marker = tmp_path / "a-worker-exited"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with distributed.Client(real_cluster) as client:
            client.register_plugin(_ExitOnFirstTask(str(marker)))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    remote = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "dask", progress=False,
                   scheduler=real_cluster)
    assert marker.exists()  # a worker did exit while it held the decode task
    with distributed.Client(real_cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 1
    assert remote.stats["decoded"] == local.stats["decoded"] == 52
    assert remote.to_dict() == local.to_dict()
    assert remote.stats["stages"]["decode"] == {"where": real_cluster, "workers": 2}
    assert local.stats["stages"]["decode"]["where"] == "local"
