"""Datasets behind fsspec URLs: file:// gives the local report, memory:// folder trees and
manifests are listed, stat-ed, read and cached through sources.storage, bad URLs exit 2."""

from __future__ import annotations

import importlib.util
import io
import shutil
import uuid

import fsspec
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from datacheck import audit
from datacheck.cli import cli
from datacheck.errors import BadInputError
from datacheck.features import parallel
from datacheck.features.samples import make_thumbnail
from datacheck.features.scan import scan
from datacheck.sources import storage
from datacheck.sources.dataset import load_dataset
from datacheck.sources.source import open_source
from tests.helpers import NO_MODEL, distinct_patches, jpeg_bytes, save

CHEAP = ["integrity", "duplicates", "leakage", "balance"]


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def mem():
    """A fresh folder URL in fsspec's in-memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    name = f"/dc-{uuid.uuid4().hex[:8]}"
    yield fs, f"memory://{name}", name
    if fs.exists(name):
        fs.rm(name, recursive=True)


def comparable(report) -> dict:
    """What must not depend on how the images were read."""
    return {name: (c.status, c.summary, c.findings.reset_index(drop=True).to_dict("list"))
            for name, c in report.checks.items()}


# -- file:// -----------------------------------------------------------------------------------

def test_file_url_gives_the_local_report(clean_dataset, tmp_path):
    train = sorted((clean_dataset / "train").rglob("*.jpg"))
    shutil.copyfile(train[0], clean_dataset / "test" / "a" / "copy.jpg")
    save(Image.open(train[1]).convert("RGB"), clean_dataset / "test" / "b" / "reenc.jpg",
         quality=50)
    (clean_dataset / "val" / "c" / "broken.jpg").write_bytes(train[2].read_bytes()[:300])
    local = audit(clean_dataset, checks=NO_MODEL, cache_dir=tmp_path / "c1", progress=False)
    url = clean_dataset.resolve().as_uri()  # file:///...
    remote = audit(url, checks=NO_MODEL, cache_dir=tmp_path / "c2", progress=False)
    assert remote.stats["decoded"] == local.stats["decoded"] == len(train) + 24 + 3
    assert comparable(remote) == comparable(local)
    leaks = remote.checks["leakage"].findings
    assert set(leaks["b"]) == {"test/a/copy.jpg", "test/b/reenc.jpg"}
    assert "val/c/broken.jpg" in set(remote.checks["integrity"].findings["path"])
    assert remote.dataset["splits"] == local.dataset["splits"]
    assert remote.dataset["root"] == local.dataset["root"] == clean_dataset.resolve().as_posix()
    # the default cache of a writable file:// root is ROOT/.datacheck, as for the local path
    again = audit(url, checks=["integrity"], progress=False)
    assert again.stats["cache"] == str(clean_dataset.resolve() / ".datacheck")
    assert audit(url, checks=["integrity"], progress=False).stats["decoded"] == 0


# -- memory:// ---------------------------------------------------------------------------------

def plant_memory_dataset(fs, name, patches):
    """train/test x two classes of real PNGs, one byte copy train -> test, one corrupt file,
    and hidden files that must be skipped."""
    for k in range(12):
        split = "train" if k < 8 else "test"
        fs.pipe_file(f"{name}/{split}/{'ab'[k % 2]}/{k:02d}.png", png_bytes(patches[k]))
    fs.pipe_file(f"{name}/test/a/copy.png", png_bytes(patches[0]))
    fs.pipe_file(f"{name}/train/b/bad.png", b"\x89PNG\r\n\x1a\n not really")
    fs.pipe_file(f"{name}/.datacheck/junk.png", b"x")
    fs.pipe_file(f"{name}/train/a/.hidden.png", b"x")


def test_memory_folder_tree(mem, patches, tmp_path, monkeypatch):
    fs, url, name = mem
    plant_memory_dataset(fs, name, patches)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ds = load_dataset(url + "/")
    assert ds.root == url
    assert len(ds.table) == 14 and not ds.table["path"].str.contains("hidden|junk").any()
    assert ds.splits == {"train": 9, "test": 5}
    assert (ds.table["bytes"] > 0).all()

    report = audit(url, checks=CHEAP, workers=1, progress=False)
    assert report.dataset["root"] == url
    cache = report.stats["cache"]
    assert cache.startswith(str(tmp_path / "xdg" / "datacheck" / "url-"))  # not in the memory fs
    assert report.stats["decoded"] == 14
    leaks = report.checks["leakage"].findings
    assert leaks[["a", "b", "kind"]].values.tolist() == [["train/a/00.png", "test/a/copy.png",
                                                          "exact"]]
    integrity = report.checks["integrity"].findings
    assert integrity["path"].tolist() == ["train/b/bad.png"]
    html = report.to_html()
    assert html.count("data:image/") >= 3  # thumbnails read through fsspec

    # unchanged objects are not read again; a rewritten one is
    assert audit(url, checks=CHEAP, workers=1, progress=False).stats["decoded"] == 0
    fs.pipe_file(f"{name}/test/b/09.png", png_bytes(patches[20]))
    again = audit(url, checks=CHEAP, workers=1, progress=False)
    assert again.stats["decoded"] == 1 and again.stats["cache"] == cache


def test_memory_missing_object_is_a_finding(mem, patches, tmp_path):
    fs, url, name = mem
    for k in range(3):
        fs.pipe_file(f"{name}/cat/{k}.png", png_bytes(patches[k]))
    ds = load_dataset(url)
    fs.rm(f"{name}/cat/1.png")  # vanished between listing and scan
    out = scan(ds, workers=1, cache_dir=tmp_path / "c", progress=False)
    assert out.set_index("path").loc["cat/1.png", "problem"] is not None
    assert out["problem"].notna().sum() == 1


@pytest.mark.skipif(parallel.START_METHOD != "fork",
                    reason="only forked workers see the parent's memory filesystem")
def test_memory_dataset_with_forked_workers(mem, tmp_path):
    fs, url, name = mem
    patches = distinct_patches(70, size=48, seed=2)
    for k, img in enumerate(patches):
        fs.pipe_file(f"{name}/c{k % 2}/{k:03d}.png", png_bytes(img))
    out = scan(load_dataset(url), workers=2, cache_dir=tmp_path / "c", progress=False)
    assert len(out) == 70 and out["problem"].isna().all()


def test_manifest_at_a_url(mem, patches, tmp_path):
    fs, url, name = mem
    for k in range(6):
        fs.pipe_file(f"{name}/images/{k}.jpg", jpeg_bytes(patches[k]))
    rows = [(f"images/{k}.jpg", "ab"[k % 2], "train" if k < 4 else "test", f"g{k % 3}")
            for k in range(6)]
    rows.append((f"{url}/images/0.jpg", "a", "test", "g9"))  # a full URL inside the root
    rows.append(("images/gone.jpg", "a", "test", "g8"))
    frame = pd.DataFrame(rows, columns=["path", "label", "split", "group"])
    fs.pipe_file(f"{name}/m.csv", frame.to_csv(index=False).encode())
    buf = io.BytesIO()
    frame.to_parquet(buf)
    fs.pipe_file(f"{name}/m.parquet", buf.getvalue())

    for manifest in ("m.csv", "m.parquet"):
        ds = load_dataset(f"{url}/{manifest}")
        assert ds.root == url
        assert sorted(ds.table["path"]) == sorted(
            [f"images/{k}.jpg" for k in range(6)] + ["images/0.jpg", "images/gone.jpg"])
        assert (ds.table.set_index("path").loc["images/gone.jpg", "bytes"] == -1)
    report = audit(f"{url}/m.csv", checks=CHEAP, workers=1, cache_dir=tmp_path / "c",
                   progress=False)
    assert report.dataset["images"] == 8
    assert report.dataset["root"] == url  # the manifest's folder, as for a local manifest
    problems = dict(zip(*report.checks["integrity"].findings[["path", "problem"]].T.values,
                        strict=True))
    assert problems == {"images/gone.jpg": "missing file"}
    kinds = set(report.checks["leakage"].findings["kind"])
    assert {"exact", "group"} <= kinds

    # --root as a URL, and a manifest on local disk with paths in the memory fs
    local = tmp_path / "local.csv"
    frame.iloc[:6].to_csv(local, index=False)
    assert len(load_dataset(local, root=url).table) == 6


@pytest.mark.parametrize("bad", ["../outside.jpg", "images/../../x.jpg", "/elsewhere/x.jpg",
                                 "memory://elsewhere/x.jpg", "file:///etc/passwd"])
def test_manifest_url_paths_stay_inside_the_root(mem, bad):
    fs, url, name = mem
    fs.pipe_file(f"{name}/m.csv", f"path,label\nok.jpg,a\n{bad},a\n".encode())
    with pytest.raises(BadInputError, match="outside the dataset root"):
        load_dataset(f"{url}/m.csv")


# -- errors: one line, exit 2 --------------------------------------------------------------------

def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    return lines[0]


def test_unknown_protocol_is_exit_2():
    line = one_line_error(run("audit", "nosuchproto://bucket/data"))
    assert "unknown protocol 'nosuchproto'" in line


def test_missing_url_is_exit_2(mem):
    _, url, _ = mem
    assert "no such file or folder" in one_line_error(run("audit", url + "/nothing"))
    assert "no such file or folder" in one_line_error(run("audit", "file:///no/such/dir"))


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_missing_backend_says_what_to_install():
    line = one_line_error(run("audit", "s3://some-bucket/data"))
    assert "install s3fs: pip install 'datacheck[s3]'" in line


def test_url_folder_without_class_folders_is_exit_2(mem):
    fs, url, name = mem
    fs.pipe_file(f"{name}/loose.png", b"x")
    assert "no class or split folders" in one_line_error(run("audit", url))


# -- storage helpers ----------------------------------------------------------------------------

def test_urls_and_local_paths_are_told_apart(tmp_path):
    for url in ("s3://b/k", "memory://x", "file:///tmp", "simplecache::s3://b/k", "gs://b"):
        assert storage.is_url(url), url
    for local in ("data", "/abs/data", "C:\\data", "a:b/c", "weird name://x", tmp_path):
        assert not storage.is_url(local), local
    assert storage.protocol("simplecache::s3://b/k") == "s3"
    assert storage.join("s3://b/p", "x/y.jpg") == "s3://b/p/x/y.jpg"
    assert storage.join("memory://", "y.jpg") == "memory://y.jpg"
    assert storage.join(tmp_path, "x/y.jpg") == str(tmp_path / "x" / "y.jpg")
    assert storage.parent("s3://b/p/m.csv") == "s3://b/p"
    assert storage.trim("s3://b/p//") == "s3://b/p"
    # plain file:// URLs are local paths (the fast os-based path); chained ones are not
    assert storage.localize("file:///tmp/a%20b/c") == "/tmp/a b/c"
    assert storage.localize("file://localhost/tmp/x") == "/tmp/x"
    assert storage.localize("simplecache::file:///tmp/x") == "simplecache::file:///tmp/x"
    assert storage.localize("s3://b/k") == "s3://b/k" and storage.localize("data") == "data"


def test_version_prefers_a_checksum_over_the_time():
    a = storage.version({"size": 3, "ETag": '"abc"', "LastModified": "2024-01-01"})
    b = storage.version({"size": 3, "ETag": '"abd"', "LastModified": "2024-01-01"})
    assert a != b and isinstance(a, int) and -(2**63) <= a < 2**63
    assert storage.version({"mtime": 1.5}) == 1_500_000_000
    assert storage.version({"size": 3}) is None


def test_html_reads_thumbnails_through_fsspec(mem, patches):
    fs, url, name = mem
    fs.pipe_file(f"{name}/train/a/x.png", png_bytes(patches[0]))
    source = open_source(url)
    uri, why, size = make_thumbnail(source, "train/a/x.png", 64)
    assert uri and uri.startswith("data:image/"), why
    assert make_thumbnail(source, "train/a/none.png", 64)[:2] == (None, "missing")
    assert make_thumbnail(source, "train", 64)[0] is None
    for outside in ("../x.png", "/x.png"):
        assert make_thumbnail(source, outside, 64)[:2] == (None, "outside the dataset")
