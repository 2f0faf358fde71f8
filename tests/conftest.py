"""Shared fixtures: real photos bundled with scikit-image / scikit-learn written to tmp dirs, a
real git + DVC repository with a history, and real Chromium. Plain helpers: tests/helpers.py.

Under pytest-xdist (``make test`` runs ``-n auto``) every worker is its own session: the
session-scoped fixtures are built once per worker, in that worker's own temporary folders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image


def _share_the_cores() -> None:
    """Under pytest-xdist, each worker's OpenMP, BLAS and numba get its share of the cores
    (set before numpy, torch or numba load, and inherited by the commands tests run): two
    workers that each run 2 OpenMP threads on 2 busy cores train a small net ~10x slower."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count() or 1
        share = str(max(1, cores // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "NUMBA_NUM_THREADS"):
            os.environ.setdefault(name, share)


_share_the_cores()

from tests.helpers import (  # noqa: E402 (numpy loads with it)
    CHROMIUM_NAMES,
    distinct_patches,
    find_chromium,
    require_dvc,
    save,
    sh,
)


@pytest.fixture(scope="session", autouse=True)
def _private_user_cache(tmp_path_factory):
    """datacheck's user cache ($XDG_CACHE_HOME/datacheck: URL datasets, read-only folders,
    shard indexes) in a folder of this session (one per xdist worker), not in ~/.cache; DVC
    never phones home."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ["DVC_NO_ANALYTICS"] = "1"


@pytest.fixture(scope="session")
def patches() -> list[Image.Image]:
    return distinct_patches(60)


@pytest.fixture
def clean_dataset(tmp_path, patches) -> Path:
    """train/val/test, three classes, no copies anywhere."""
    root = tmp_path / "clean"
    layout = {"train": 8, "val": 4, "test": 4}
    k = 0
    for split, per_class in layout.items():
        for label in ("a", "b", "c"):
            for _ in range(per_class):
                save(patches[k], root / split / label / f"img{k:03d}.jpg")
                k += 1
    return root


# -- a real git + DVC repository with a history (--rev, diff --rev, diff --html) ----------

HISTORY_LABELS = ("a", "b", "c")


@pytest.fixture(scope="session")
def dvc_repo(tmp_path_factory) -> dict:
    """A git + DVC repository whose head commit renames 50 files (one a leaked test copy of a
    train image), relabels 10, moves 5 from train to test, adds 20 and re-encodes 3; beside
    the DVC-tracked data/, plain/ is git data whose p0.jpg the head deletes.

    Tests may change it only if they restore it before they end."""
    require_dvc()
    labels = HISTORY_LABELS
    root = tmp_path_factory.mktemp("versions")
    data = root / "data"
    photos = distinct_patches(110, size=96, seed=3)
    k = 0
    base: list[str] = []
    for split, per_class in (("train", 24), ("test", 4)):
        for label in labels:
            for _ in range(per_class):
                rel = f"{split}/{label}/img{k:03d}.jpg"
                save(photos[k], data / rel)
                base.append(rel)
                k += 1
    shutil.copyfile(data / "train/a/img000.jpg", data / "test/a/leak.jpg")  # a leak in base
    for n in range(4):  # plain git data, no DVC
        save(photos[100 + n], root / "plain" / "all" / f"p{n}.jpg")
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.email", "ci@example.invalid")
    sh(root, "git", "config", "user.name", "ci")
    sh(root, "dvc", "init", "-q")
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "base")

    train = [p for p in base if p.startswith("train/")]
    # 50 renames (the leaked test copy among them), 10 relabels, 5 train -> test, 3 re-encodes
    renamed = {"test/a/leak.jpg": "test/a/leak_renamed.jpg"}
    for rel in train[:49]:
        renamed[rel] = rel.replace("img", "renamed_")
    relabelled = {}
    for rel in train[49:59]:
        split, label, name = rel.split("/")
        relabelled[rel] = f"{split}/{labels[(labels.index(label) + 1) % 3]}/{name}"
    moved = {rel: rel.replace("train/", "test/") for rel in train[59:64]}
    for old, new in {**renamed, **relabelled, **moved}.items():
        (data / new).parent.mkdir(parents=True, exist_ok=True)
        (data / old).rename(data / new)
    reencoded = train[64:67]
    for rel in reencoded:
        Image.open(data / rel).convert("RGB").save(data / rel, "JPEG", quality=60)
    added = []
    for n in range(20):
        rel = f"{('train', 'test')[n % 2]}/{labels[n % 3]}/new{n:02d}.jpg"
        save(photos[k + n], data / rel)
        added.append(rel)
    (root / "plain/all/p0.jpg").unlink()
    sh(root, "dvc", "add", "-q", "data")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "head")
    return {"root": root, "renamed": renamed, "relabelled": relabelled, "moved": moved,
            "reencoded": reencoded, "added": added, "base": base}


# -- real Chromium (the HTML report and the review page are tested in it) -------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium on PATH; `make test` installs one first (its `chromium` step)."""
    exe = find_chromium()
    if exe is None:
        pytest.skip(f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}); "
                    "`make chromium` installs it (as root, with apt-get)")
    return exe


# -- scheduling under pytest-xdist (`make test`: -n auto --dist loadgroup) ---------------------
#
# Tests go to the workers one by one, except those marked with one xdist_group (they share an
# expensive fixture: a trained model, a DVC repository changed test after test), which go to
# one worker together. pytest-xdist 3.8 tells its scheduler the groups through a suffix of the
# test ids, which pytest 9.2 no longer lets it set (pytest-dev/pytest-xdist#1386): here the
# workers write each grouped test's group to a file, and the scheduler reads it. Tests marked
# slow (and the groups, largest first) are handed out first, so the workers finish together.

_GROUPS_FILE = pytest.StashKey[Path]()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a model or runs a pipeline; handed to a "
                                       "pytest-xdist worker first (-m 'not slow' leaves them out)")
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput") \
            and config.getoption("dist", "no") == "loadgroup":
        config.stash[_GROUPS_FILE] = Path(tempfile.mkdtemp(prefix="xdist-groups-")) / "groups.json"


def pytest_unconfigure(config):
    path = config.stash.get(_GROUPS_FILE, None)
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Controller: tell each worker where the groups go."""
    path = node.config.stash.get(_GROUPS_FILE, None)
    if path is not None:
        node.workerinput["xdist_groups_file"] = str(path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """On a pytest-xdist worker: slow tests first (a stable sort), and the groups to the file."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    target = config.workerinput.get("xdist_groups_file")
    if target:
        groups = {item.nodeid: "group:" + str(mark.args[0] if mark.args else
                                              mark.kwargs.get("name", "default"))
                  for item in items if (mark := item.get_closest_marker("xdist_group"))}
        mine = Path(f"{target}.{config.workerinput['workerid']}")
        mine.write_text(json.dumps(groups))
        mine.replace(target)  # every worker collects the same tests: the same file


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    path = config.stash.get(_GROUPS_FILE, None)
    if path is None:
        return None
    from xdist.scheduler import LoadGroupScheduling

    class MarkedGroups(LoadGroupScheduling):
        """--dist loadgroup with the groups from the workers' file."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = json.loads(path.read_text()) if path.exists() else {}
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return MarkedGroups(config, log)
