"""`datacheck review` with 1,000 findings: how fast the page loads and answers in Chromium.

    .venv/bin/python benchmarks/review_page.py [--findings 1000]

The dataset (benchmarks/_data/review<N>/): N CIFAR-10 test images in train and a byte copy of
each in test (N exact leaks), plus N other CIFAR-10 images in train. The review server runs in
this process; a headless Chromium loads the page over the DevTools protocol. Printed: the audit
(from an empty cache), the page's size, the time from navigation to every card on screen,
the median time a decision takes (click -> the file written -> the page updated), and how
long a filter change takes to redraw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, SHARED, footer, header, table  # noqa: E402

from datacheck.decide import review_server  # noqa: E402

CIFAR = SHARED / "cifar10-test" / "test"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def make_dataset(count: int) -> Path:
    root = DATA / f"review{count}"
    if (root / ".done").exists():
        return root
    files = sorted(CIFAR.glob("*/*.jpg"))[:2 * count]
    for i, src in enumerate(files):
        label = src.parent.name
        (root / "train" / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / "train" / label / f"{i:05d}.jpg")
        if i < count:
            (root / "test" / label).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / "test" / label / f"{i:05d}_copy.jpg")
    (root / ".done").touch()
    return root


async def measure(port: int, url: str, decisions: int) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as answer:
                    pages = [t for t in await answer.json() if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            calls = iter(range(1, 1_000_000))

            async def evaluate(expression: str):
                n = next(calls)
                await ws.send_json({"id": n, "method": "Runtime.evaluate", "params": {
                    "expression": expression, "returnByValue": True, "awaitPromise": True}})
                while True:
                    message = await ws.receive_json(timeout=120)
                    if message.get("id") == n:
                        return message["result"]["result"].get("value")

            await ws.send_json({"id": 0, "method": "Page.navigate", "params": {"url": url}})
            start = time.perf_counter()
            while not await evaluate("document.querySelectorAll('.card').length > 0"):
                await asyncio.sleep(0.01)
            loaded = time.perf_counter() - start
            cards = await evaluate("document.querySelectorAll('.card').length")
            took = []
            for k in range(decisions):
                took.append(await evaluate(f"""(async () => {{
                    const t = performance.now();
                    const card = document.querySelectorAll('.card')[{k}];
                    await decide(card.dataset.id, 'ok');
                    return performance.now() - t; }})()"""))
            redraw = await evaluate("""(() => { const s = document.getElementById('f-check');
                const t = performance.now(); s.value = 'leakage';
                s.dispatchEvent(new Event('change')); return performance.now() - t; })()""")
            return {"loaded": loaded, "cards": cards, "decide_ms": statistics.median(took),
                    "redraw_ms": redraw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--findings", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=20, help="decisions timed")
    args = parser.parse_args()
    header("review page")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None or not CIFAR.is_dir():
        print("skipped: needs chromium and ../shared/datasets/cifar10-test")
        return
    root = make_dataset(args.findings)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        server, url = review_server(root, checks=["leakage"], decisions=Path(tmp) / "d.yaml",
                                    cache_dir=Path(tmp) / "cache", progress=False)
        audited = time.perf_counter() - start
        threading.Thread(target=server.serve_forever, daemon=True).start()
        import urllib.request

        with urllib.request.urlopen(url) as page:
            size = len(page.read())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        browser = subprocess.Popen([exe, *FLAGS, f"--remote-debugging-port={port}",
                                    f"--user-data-dir={tmp}/profile", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": tmp})
        try:
            result = asyncio.run(measure(port, url, args.decisions))
        finally:
            browser.kill()
            server.shutdown()
    table(["findings", "audit, empty cache", "page", "navigation -> every card shown",
           f"decision (median of {args.decisions})", "filter redraw"],
          [[f"{result['cards']:,}", f"{audited:.1f} s", f"{size / 1024:,.0f} KiB",
            f"{result['loaded']:.2f} s", f"{result['decide_ms']:.0f} ms",
            f"{result['redraw_ms']:.0f} ms"]])
    footer()


if __name__ == "__main__":
    main()
