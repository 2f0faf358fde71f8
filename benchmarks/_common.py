"""Shared bits of the benchmark scripts: the machine header, tables, the peer venv."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "_data"
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
#: the benchmark data (../shared/datasets; DATACHECK_BENCH_DATA elsewhere, as on the GPU machine)
SHARED = Path(os.environ.get("DATACHECK_BENCH_DATA") or REPO.parent / "shared" / "datasets")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "datacheck"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in datacheck/" if dirty else "")


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def header(title: str) -> None:
    print(f"# {title}")
    print(f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"{cores()} cores ({cpu_model()}); Python {platform.python_version()}; "
          f"datacheck at {git_state()}")
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"load average before: {load()}")
    busy = _busy_load()
    if busy:
        print(f"WARNING: {busy}; timings are slower than on an idle machine")
    sys.stdout.flush()


def _busy_load() -> str:
    try:
        one = os.getloadavg()[0]
    except OSError:
        return ""
    return f"1-minute load {one:.1f} on {cores()} cores" if one > 0.5 * cores() else ""


def footer() -> None:
    print(f"load average after: {load()}")


def table(columns: list[str], rows: list[list], align: str | None = None) -> None:
    """A Markdown table; ``align`` is one char per column, l or r (default: first l, rest r)."""
    align = align or "l" + "r" * (len(columns) - 1)
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" if a == "l" else "---:" for a in align) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    sys.stdout.flush()


def peers_available() -> str | None:
    """None when the imagededup venv is usable, else why not."""
    if not PEERS_PYTHON.exists():
        return f"{PEERS_PYTHON.relative_to(REPO)} is missing (run `make bench-deps`)"
    check = subprocess.run([str(PEERS_PYTHON), str(HERE / "_peers.py"), "check"],
                           capture_output=True, text=True)
    if check.returncode:
        return "imagededup does not import: " + (check.stderr.strip().splitlines() or ["?"])[-1]
    return None


def run_peer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PEERS_PYTHON), str(HERE / "_peers.py"), *args],
                          capture_output=True, text=True, check=True)
