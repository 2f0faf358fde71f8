"""`datacheck review`: the local page in a real Chromium, driven over the DevTools protocol:
a click and a key press record decisions in the file; no token, no page."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from datacheck.decide import review_server
from datacheck.features.cache import FeatureCache
from datacheck.features.images import content_digest
from datacheck.review import decisions as decided
from datacheck.review.page import THUMB_PX
from tests.helpers import CHROMIUM_FLAGS, save


@pytest.fixture
def served(clean_dataset, patches, tmp_path):
    """The review page of clean_dataset with two planted leaks, served in a thread."""
    root = clean_dataset
    shutil.copyfile(root / "train/a/img000.jpg", root / "test/a/leak0.jpg")
    save(patches[9], root / "test/b/leak9.jpg", quality=70)
    file = tmp_path / "decisions.yaml"
    server, url = review_server(root, checks=["leakage"], decisions=file,
                                cache_dir=tmp_path / "c", progress=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, url, file, root
    server.shutdown()


def test_page_needs_its_token_and_listens_on_localhost_only(served, tmp_path):
    server, url, file, root = served
    assert server.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(url, timeout=30) as page:
        assert b"datacheck review" in page.read()
    for bad in (url.split("?")[0], url[:-3] + "xyz"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=30)
        assert err.value.code == 403
    request = urllib.request.Request(url.replace("/?", "/decide?"), method="POST",
                                     data=json.dumps({"id": "leakage-0000000000",
                                                      "decision": "ok"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:  # an id that is no finding
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 400 and not file.exists()
    leak = next(r for r in _page_data(url)["findings"] if r["check"] == "leakage")
    for body in ({"id": leak["id"], "decision": "move", "value": "../../etc"},
                 {"id": leak["id"], "decision": "keep-one"},
                 {"id": leak["id"], "decision": "rm -rf"}):
        request = urllib.request.Request(url.replace("/?", "/decide?"), method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 400 and not file.exists()
    thumb = url.replace("/?", "/thumb?") + "&path=test/a/leak0.jpg"
    with urllib.request.urlopen(thumb, timeout=30) as answer:
        assert answer.headers["Content-Type"] == "image/jpeg" and answer.read(2) == b"\xff\xd8"
    digest = content_digest((root / "test/a/leak0.jpg").read_bytes())
    store = FeatureCache(tmp_path / "c")
    try:  # kept by content digest in the feature cache, as the HTML report's thumbnails
        assert set(store.previews([digest], THUMB_PX)) == {digest}
    finally:
        store.close()


def test_a_click_and_a_key_in_chromium_record_decisions(served, chromium, tmp_path):
    _, url, file, _ = served
    profile = tmp_path / "profile"
    # port 0: Chromium picks a free port and writes it to the profile (no port shared between
    # parallel test runs)
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ,
                                                                   "HOME": str(tmp_path)})
    try:
        first, second = asyncio.run(_drive(_devtools_port(profile, browser), url))
    finally:
        browser.kill()
        browser.wait(timeout=30)
    entries = decided.load(file)
    assert entries[first].decision == "ok" and entries[second].decision == "drop"
    assert entries[second].paths and all(p.startswith("test/") for p in entries[second].paths)


async def _drive(port: int, url: str) -> tuple[str, str]:
    """Open the page, click the first card's ok button, press j then d; return both ids."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        target = await _page_target(http, port)
        async with http.ws_connect(target, max_msg_size=0) as ws:
            cdp = _Cdp(ws)
            await cdp.call("Page.navigate", url=url)
            await cdp.until("document.querySelectorAll('.card').length === 2")
            first = await cdp.value("document.querySelector('.card').dataset.id")
            await cdp.value("document.querySelector('.card button[data-d=ok]').click()")
            await cdp.until("document.getElementById('progress').textContent"
                            ".startsWith('1 of 2 reviewed')")
            second = await cdp.value("document.querySelectorAll('.card')[1].dataset.id")
            for key in ("j", "d"):
                for kind in ("keyDown", "keyUp"):
                    await cdp.call("Input.dispatchKeyEvent", type=kind, key=key, text=key)
            await cdp.until("document.getElementById('progress').textContent"
                            ".startsWith('2 of 2 reviewed')")
            return first, second


async def _page_target(http, port: int) -> str:
    for _ in range(300):
        try:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
                pages = [t for t in await answer.json() if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("Chromium's DevTools endpoint did not answer")


class _Cdp:
    """Calls over one DevTools websocket, matched to their answers by id."""

    def __init__(self, ws) -> None:
        self.ws, self.next = ws, 0

    async def call(self, method: str, **params) -> dict:
        self.next += 1
        await self.ws.send_json({"id": self.next, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=60)
            if message.get("id") == self.next:
                assert "error" not in message, message
                return message.get("result") or {}

    async def value(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def until(self, expression: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await self.value(f"(() => {{ try {{ return {expression}; }} "
                                "catch (e) { return false; } })()"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


def _page_data(url: str) -> dict:
    """The findings and token the page embeds."""
    with urllib.request.urlopen(url, timeout=30) as page:
        text = page.read().decode()
    return json.loads(text.split("const DATA = ", 1)[1].split(";\n", 1)[0])


def _devtools_port(profile, browser: subprocess.Popen, seconds: float = 60) -> int:
    """The DevTools port Chromium chose: the first line of PROFILE/DevToolsActivePort."""
    deadline = time.monotonic() + seconds
    active = profile / "DevToolsActivePort"
    while time.monotonic() < deadline and browser.poll() is None:
        lines = active.read_text().splitlines() if active.exists() else []
        if lines and lines[0].isdigit():
            return int(lines[0])
        time.sleep(0.1)
    raise AssertionError(f"Chromium wrote no DevTools port (exit code {browser.poll()})")
