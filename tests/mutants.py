"""Mutation check (issue 26): every test can fail. Each mutation below breaks one behaviour a user
would notice; the tests chosen for it must then fail.

    .venv/bin/python tests/mutants.py              # the whole campaign (baseline first)
    .venv/bin/python tests/mutants.py --list       # the mutations
    .venv/bin/python tests/mutants.py NAME...      # a subset

The mutations are applied only in a throwaway copy of the repository (the files
``git ls-files -co --exclude-standard`` lists, in a ``tempfile.mkdtemp()`` folder, removed at
the end unless ``--keep``); the checkout this script lives in is never written to. The copy's
tests run with this checkout's virtual environment, ``cwd`` = the copy and ``PYTHONPATH`` = the
copy, and the script asserts that ``import datacheck`` there resolves to the copy (the venv's
editable install points at the checkout).

For each mutation: the old snippet must occur exactly once in the file (else the mutation is
*stale*: the code moved on, rewrite the snippet), it is replaced, the selected tests run
(``pytest -x``, 300 s at most), and the file is restored byte for byte (with its mtime, so no
``.pyc`` or numba cache of the mutant is reused). Results: ``caught`` (the tests failed),
``SURVIVED`` (they passed), ``timeout``, ``error`` (pytest could not run them: no test
selected, a collection error), ``skipped`` (every selected test skipped), ``stale``, and
``baseline-fail`` (the selection already fails, or only skips, without the mutation, so it
proves nothing; ``--no-baseline`` skips that first run).
Exit 0 when every mutation is caught; 1 when one survived, is stale or is not judged.
Not collected by pytest (the name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest arguments that should catch it
    why: str  # what a user would notice


MUTANTS = [
    # -- matching: the Hamming search ------------------------------------------------------
    Mutant("neighbors-brute-radius", "datacheck/matching/neighbors.py",
           "            if d <= threshold:\n                out_i, out_j, out_d = _push(",
           "            if d < threshold:\n                out_i, out_j, out_d = _push(",
           ("tests/test_neighbors.py", "-k", "brute"),
           "brute-force search misses pairs exactly at the radius (off by one)"),
    Mutant("neighbors-mih-radius", "datacheck/matching/neighbors.py",
           "        radii = [q + (1 if k < extra else 0) - 1 for k in range(m)]",
           "        radii = [q + (1 if k < extra else 0) - 2 for k in range(m)]",
           ("tests/test_neighbors.py", "-k", "mih or clustered or cross or plan"),
           "multi-index substrings probed one bit short: pairs at the radius are lost"),
    # -- matching: copy verification --------------------------------------------------------
    Mutant("copies-aligned-check", "datacheck/matching/copies.py",
           "            passed[check] = aligned >= MIN_ALIGNED",
           "            passed[check] = aligned >= -1.0",
           ("tests/test_similar.py", "-k", "aligned_bar"),
           "photo pairs between 0.75 and 0.97 correlation accepted without the aligned check"),
    Mutant("small-copies-detail", "datacheck/matching/small_copies.py",
           "    return (corr >= MIN_CORR) & (corr + detail >= MIN_SUM)",
           "    return corr >= MIN_CORR",
           ("tests/test_small_copies.py",),
           "small aligned pairs accepted on correlation alone (no detail agreement)"),
    Mutant("small-copies-residual", "datacheck/matching/small_copies.py",
           "    ok = (sim >= options.min_similarity_small) & (res <= options.max_residual_small)",
           "    ok = sim >= options.min_similarity_small",
           ("tests/test_small_copies.py", "-k", "crowd"),
           "crowded small images (look-alikes) verified without the fit residual"),
    # -- checks -------------------------------------------------------------------------------
    Mutant("leakage-splits-ignored", "datacheck/checks/leakage.py",
           "    cross = split[i] != split[j]",
           "    cross = split[i] == split[i]",
           ("tests/test_audit.py", "-k", "planted_leaks or duplicates_within or group_leakage"),
           "copies inside one split reported as cross-split leaks"),
    Mutant("leakage-group-pair-dropped", "datacheck/checks/leakage.py",
           "            for sb in splits[x + 1:]:",
           "            for sb in splits[x + 2:]:",
           ("tests/test_audit.py", "-k", "group_leakage"),
           "a group in two splits is not reported (only groups spanning three)"),
    Mutant("duplicates-label-conflict", "datacheck/checks/duplicates.py",
           '            "label_conflict": len(known) > 1,',
           '            "label_conflict": len(known) > 2,',
           ("tests/test_audit.py", "-k", "duplicates_within"),
           "a cluster of copies labelled a and b is not a label conflict"),
    Mutant("duplicates-conflict-status", "datacheck/checks/duplicates.py",
           '    status = "fail" if exact or conflicts else "warn"',
           '    status = "fail" if exact else "warn"',
           ("tests/test_audit.py", "-k", "disagreeing_labels"),
           "near copies with disagreeing labels only warn (docstring: they fail)"),
    Mutant("integrity-truncated", "datacheck/features/images.py",
           "ImageFile.LOAD_TRUNCATED_IMAGES = False",
           "ImageFile.LOAD_TRUNCATED_IMAGES = True",
           ("tests/test_audit.py", "-k", "integrity"),
           "a truncated JPEG decodes (grey-padded) and is not reported"),
    Mutant("balance-imbalance-inverted", "datacheck/checks/balance.py",
           "        if ratio > max_imbalance:",
           "        if ratio < max_imbalance:",
           ("tests/test_audit.py", "-k", "balance_missing or clean_dataset_passes"),
           "imbalance comparison inverted: balanced splits fail, 15x imbalance passes"),
    Mutant("quality-light-threshold", "datacheck/checks/quality.py",
           "LIGHT_FLOOR = 0.6\n",
           "LIGHT_FLOOR = 0.75\n",
           ("tests/test_quality.py", "-k", "planted_blur"),
           "washed-out photos (70% white) no longer flagged"),
    Mutant("training-small-loss-order", "datacheck/learning/training.py",
           "    order = torch.argsort(losses, descending=True)",
           "    order = torch.argsort(losses, descending=False)",
           ("tests/test_label_noise.py", "-k", "small_loss"),
           "small-loss training drops the lowest losses instead of the likely mislabelled"),
    Mutant("label-noise-odds", "datacheck/checks/label_noise.py",
           "        contradicted = probs.max(1) >= MIN_ODDS * scores",
           "        contradicted = probs.max(1) > scores",
           ("tests/test_label_noise.py", "-k", "hesitation"),
           "every disagreement flagged: hesitations become label errors"),
    Mutant("shift-holm", "datacheck/checks/shift.py",
           "        if pvalues[idx] > alpha / (len(pvalues) - rank):",
           "        if pvalues[idx] > alpha:",
           ("tests/test_shift.py", "-k", "no_shift"),
           "no multiple-testing correction: unshifted splits fail far above alpha"),
    # -- report ---------------------------------------------------------------------------------
    Mutant("escape-md-pipe", "datacheck/report/escape.py",
           r'''_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")''',
           r'''_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!~])")''',
           ("tests/test_report.py", "tests/test_fuzz.py", "-k", "md"),
           "a '|' in a file name splits a Markdown table cell"),
    Mutant("metrics-flat-keys", "datacheck/report/__init__.py",
           '                out[f"{name}.{key}"] = value',
           "                out[key] = value",
           ("tests/test_cli.py", "-k", "flat_metrics"),
           "metrics.json keys lose their check prefix and collide"),
    Mutant("diff-pair-order", "datacheck/report/diff.py",
           '        return ("copy", tuple(sorted(pair, key=repr)))',
           '        return ("copy", pair)',
           ("tests/test_diff.py",),
           "a leak whose two images swap sides (a <-> b) shows as new + removed"),
    Mutant("diff-digest-identity", "datacheck/report/diff.py",
           '    a_key, b_key = ("digest_a", "digest_b") if by_digest else ("a", "b")',
           '    a_key, b_key = ("a", "b")',
           ("tests/test_diff.py", "-k", "renames"),
           "leaks matched by path although digests exist: a renamed leak is new"),
    Mutant("versions-modified-as-renamed", "datacheck/history/versions.py",
           '            out["modified"].append(_pair(b, h, digest=True))',
           '            out["renamed"].append(_pair(b, h, digest=True))',
           ("tests/test_versions.py", "-k", "data_diff_from_two"),
           "a re-encoded file at the same path is listed as renamed, not modified"),
    # -- review, CLI, storage -----------------------------------------------------------------
    Mutant("review-ok-still-counted", "datacheck/review/marks.py",
           "            status=_status(name, result, findings[~ok]) if ok.any() else "
           "result.status,",
           "            status=_status(name, result, findings) if ok.any() else result.status,",
           ("tests/test_review.py", "-k", "reviewed_leaks"),
           "findings decided ok still fail the check"),
    Mutant("cli-fail-on-repeated", "datacheck/cli/params.py",
           '    return [v.strip() for value in values or () for v in value.split(",") '
           'if v.strip()]',
           '    return [v.strip() for value in list(values or ())[:1] for v in value.split(",") '
           'if v.strip()]',
           ("tests/test_api.py", "-k", "fail_on"),
           "a repeated --fail-on keeps only its first value"),
    Mutant("cli-fail-on-any", "datacheck/cli/audit.py",
           "        fail_on = list(ran)",
           "        fail_on = []",
           ("tests/test_cli.py", "-k", "exit_codes"),
           "--fail-on any exits 0 on a failing check"),
    Mutant("storage-url-cache", "datacheck/sources/storage.py",
           "    if isinstance(root, str) and is_url(root):\n        return user_cache_dir()",
           "    if False:\n        return user_cache_dir()",
           ("tests/test_storage.py", "-k", "memory_folder_tree"),
           "a URL dataset's cache is not the per-URL user folder (treated as read-only)"),
    Mutant("storage-read-only-root", "datacheck/sources/storage.py",
           "    if os.access(root, os.W_OK) or",
           "    if os.access(root, os.R_OK) or",
           ("tests/test_hostile.py", "-k", "read_only"),
           "a read-only dataset gets its cache written into it (or the audit fails)"),
]


# -- the copy -------------------------------------------------------------------------------------

def make_copy() -> Path:
    """The repository's tracked and untracked, not ignored files in a fresh temporary folder
    (readable by other users: tests/test_hostile.py re-runs datacheck as user nobody)."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard",
                             "-z"], check=True, capture_output=True).stdout.decode()
    dest = Path(tempfile.mkdtemp(prefix="datacheck-mutants-")).resolve()
    os.chmod(dest, 0o755)
    assert not dest.is_relative_to(REPO), dest
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if not src.is_file() or src.is_symlink():  # deleted in the work tree, or a link
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def env_for(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(copy), DVC_NO_ANALYTICS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def assert_isolated(copy: Path) -> str:
    """``import datacheck`` inside the copy must load the copy's package, not the checkout's."""
    out = subprocess.run([python(), "-c", "import datacheck; print(datacheck.__file__)"],
                         cwd=copy, env=env_for(copy), capture_output=True, text=True, timeout=120)
    where = Path(out.stdout.strip()).resolve() if out.returncode == 0 else None
    assert where is not None, out.stderr
    assert where.is_relative_to(copy) and not where.is_relative_to(REPO), (
        f"datacheck resolves to {where}, not to the copy {copy}")
    return str(where)


# -- running --------------------------------------------------------------------------------------

def run_tests(copy: Path, args: tuple[str, ...]) -> tuple[str, float, str]:
    """(outcome, seconds, output tail) of ``pytest -x args`` in the copy: passed, failed,
    timeout or error."""
    cmd = [python(), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=copy, env=env_for(copy), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # pytest and whatever it started, only those
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - start, out[-2000:]
    seconds = time.monotonic() - start
    outcome = {0: "passed", 1: "failed"}.get(proc.returncode, "error")
    if outcome == "passed" and not re.search(r"\b\d+ passed\b", out):
        outcome = "skipped"  # every selected test skipped: it proves nothing
    return outcome, seconds, out[-2000:]


def apply(copy: Path, m: Mutant) -> tuple[Path, bytes, tuple[int, int]] | str:
    """Write the mutant into the copy; (path, original bytes, original (atime, mtime) in ns),
    or why it is stale."""
    path = (copy / m.file).resolve()
    assert path.is_relative_to(copy) and not path.is_relative_to(REPO), path
    if not path.is_file():
        return f"{m.file} not found"
    original = path.read_bytes()
    text = original.decode()
    count = text.count(m.old)
    if count != 1:
        return f"old snippet found {count} times in {m.file}"
    st = path.stat()
    path.write_bytes(text.replace(m.old, m.new).encode())
    # a stamp no other version of the file has: no cached bytecode or numba kernel is reused
    bump = st.st_mtime_ns + 10**9 * (1000 + MUTANTS.index(m))
    os.utime(path, ns=(st.st_atime_ns, bump))
    return path, original, (st.st_atime_ns, st.st_mtime_ns)


def restore(path: Path, original: bytes, times: tuple[int, int]) -> None:
    path.write_bytes(original)
    os.utime(path, ns=times)
    assert path.read_bytes() == original


def stale_reason(copy: Path, m: Mutant) -> str | None:
    path = copy / m.file
    if not path.is_file():
        return f"{m.file} not found"
    count = path.read_text(encoding="utf-8").count(m.old)
    return None if count == 1 else f"old snippet found {count} times in {m.file}"


def table(rows: list[tuple[str, str, str, float]]) -> str:
    head = ("mutation", "tests", "result", "seconds")
    widths = [max(len(h), *(len(str(r[k]) if k < 3 else f"{r[k]:.0f}") for r in rows))
              for k, h in enumerate(head)]

    def line(cells) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line((n, t, r, f"{s:.0f}")) for n, t, r, s in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run [default: all]")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true",
                        help="do not run each test selection unmutated first")
    parser.add_argument("--keep", action="store_true", help="keep the copy (prints its path)")
    opts = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTANTS}
    assert len(by_name) == len(MUTANTS), "mutation names must be unique"
    if opts.list:
        for m in MUTANTS:
            print(f"{m.name:30} {m.file}\n{'':30} {m.why}\n{'':30} pytest {' '.join(m.tests)}")
        return 0
    unknown = [n for n in opts.names if n not in by_name]
    if unknown:
        parser.error(f"unknown mutation {unknown[0]!r} (see --list)")
    chosen = [by_name[n] for n in opts.names] if opts.names else list(MUTANTS)

    started = time.monotonic()
    copy = make_copy()
    rows: list[tuple[str, str, str, float]] = []
    tails: dict[str, str] = {}
    try:
        print(f"copy: {copy}\ndatacheck there: {assert_isolated(copy)}", flush=True)
        baseline: dict[tuple[str, ...], str] = {}
        if not opts.no_baseline:
            for args in dict.fromkeys(m.tests for m in chosen if not stale_reason(copy, m)):
                outcome, seconds, tail = run_tests(copy, args)
                baseline[args] = outcome
                print(f"baseline {outcome:7} {seconds:5.0f} s  pytest {' '.join(args)}",
                      flush=True)
                if outcome != "passed":
                    tails["baseline " + " ".join(args)] = tail
        for m in chosen:
            shown = " ".join(m.tests)
            if baseline.get(m.tests, "passed") != "passed":
                rows.append((m.name, shown, "baseline-fail", 0.0))
                continue
            applied = apply(copy, m)
            if isinstance(applied, str):
                rows.append((m.name, shown, "stale", 0.0))
                tails[m.name] = applied
                print(f"{m.name}: stale mutation ({applied})", flush=True)
                continue
            try:
                outcome, seconds, tail = run_tests(copy, m.tests)
            finally:
                restore(*applied)
            result = {"failed": "caught", "passed": "SURVIVED"}.get(outcome, outcome)
            if result != "caught":
                tails[m.name] = tail
            rows.append((m.name, shown, result, seconds))
            print(f"{m.name}: {result} ({seconds:.0f} s)", flush=True)
    finally:
        if opts.keep:
            print(f"kept the copy: {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    for key, tail in tails.items():
        print(f"\n--- {key}: output tail ---\n{tail.strip()[-1500:]}")
    print("\n" + table(rows))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[2]] = counts.get(row[2], 0) + 1
    print("\n" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) +
          f"; {time.monotonic() - started:.0f} s in all")
    return 0 if all(r[2] == "caught" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
