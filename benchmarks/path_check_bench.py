"""Benchmark (not a test): per-test cost of the path check, ours vs upstream's, on real journals.

Why: upstream's check spawned `journalctl -u boxlite-runner --since "<local time, 1 s>"`
once per box per 0.3 s poll for up to 5 s (upstream's e2e harness did that); ours keeps one
`systemd.journal.Reader` per process and reads only the entries after a cursor, once, waiting
on the journal (`Reader.wait`) instead of sleeping. This script measures both on the same
journals of 1k and 1M entries (2 % from the runner unit, the rest noise from other units),
written by `systemd-journal-remote` and cached under /tmp, since 1M entries take a while.

Each simulated test: take the marker (cursor / timestamp), append the test's own entries
(per box: create, exec, exec.exit from the runner, plus noise), then check every box. Only
the check is timed, not the writes. The per-test entries go to a separate journal file in
the same directory, removed at the end, so the cached history stays untouched.

Usage: .venv/bin/python benchmarks/path_check_bench.py [--sizes 1000,1000000] [--tests 15]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.harness.logsources import JournalSource  # noqa: E402
from lib.harness.path_verification import PathVerifier  # noqa: E402
from lib.stack.journal_export import Entry, write_journal  # noqa: E402

CACHE = Path("/tmp/boxlite-e2e-bench")
UNIT = "boxlite-runner"
NOISE_UNITS = ("boxlite-api", "sshd", "cron", "systemd-logind", "dockerd")
RUNNER_SHARE = 0.02
UPSTREAM_POLL_S = 0.3
UPSTREAM_DEADLINE_S = 5.0


def history(n: int, seed: int = 1) -> Iterator[Entry]:
    rng = random.Random(seed)
    # One entry per millisecond, ending 60 s ago: the history is "before the test".
    start = int((time.time() - 60) * 1e6) - n * 1000
    for i in range(n):
        ts = start + i * 1000
        if rng.random() < RUNNER_SHARE:
            yield Entry(UNIT, f"component=runner event=http method=GET path=/v1/boxes/old{i}", ts)
        else:
            yield Entry(rng.choice(NOISE_UNITS), f"noise line {i} " + "x" * rng.randint(10, 80), ts)


def cached_journal(n: int) -> Path:
    """A directory holding a journal of `n` history entries; built once, then reused."""
    folder = CACHE / f"journal-{n}"
    done = folder / ".complete"
    if done.exists() and done.read_text().strip() == str(n):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.monotonic()
    print(f"generating {n:,} entries in {folder} ...", file=sys.stderr, flush=True)
    write_journal(folder / "history.journal", history(n))
    done.write_text(str(n))
    size = sum(p.stat().st_size for p in folder.glob("*.journal*"))
    files = len(list(folder.glob("*.journal*")))
    print(
        f"  done in {time.monotonic() - t0:.1f} s: {files} file(s), {size / 2**20:.0f} MiB",
        file=sys.stderr,
    )
    return folder


def test_entries(box_ids: list[str], noise: int = 20) -> list[Entry]:
    entries = []
    for i, box in enumerate(box_ids):
        rb = f"rb{box[-6:]}"
        entries += [
            Entry(UNIT, f"component=runner event=box.create box_id={rb} name={box}"),
            Entry(UNIT, f"component=runner event=exec box_id={rb} name={box} command=echo"),
            Entry(UNIT, f"component=runner event=exec.exit box_id={rb} name={box} exit_code=0"),
        ]
        entries += [Entry(NOISE_UNITS[i % len(NOISE_UNITS)], f"noise {j}") for j in range(noise)]
    return entries


# --------------------------------------------------------------------------- the two methods


def upstream_check(folder: Path, since: str, box_ids: list[str], deadline: float) -> int:
    """Upstream: per poll, one journalctl per box still missing; substring count. Returns polls."""
    missing = list(box_ids)
    start = time.monotonic()
    polls = 0
    while True:
        polls += 1
        still = []
        for box in missing:
            out = subprocess.run(
                ["journalctl", "-D", str(folder), "-u", UNIT, "--since", since, "--no-pager"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
            if out.count(box) < 1:
                still.append(box)
        missing = still
        if not missing or time.monotonic() - start >= deadline:
            return polls
        time.sleep(UPSTREAM_POLL_S)  # upstream's fixed poll interval, reproduced on purpose


def bench_size(n: int, tests: int, boxes: int) -> dict[str, float]:
    folder = cached_journal(n)
    run_file = folder / "bench-run.journal"
    run_file.unlink(missing_ok=True)
    write_journal(run_file, [Entry(UNIT, "bench run start")])
    source = JournalSource(UNIT, path=folder)
    verifier = PathVerifier({"runner": source}, deadline=UPSTREAM_DEADLINE_S)
    ours, theirs = [], []
    try:
        for t in range(tests):
            ids = [f"bx{t:04d}{b:02d}{random.randrange(16**6):06x}" for b in range(boxes)]
            # -- marker for both methods, then the test's log lines
            t0 = time.perf_counter()
            marks = verifier.mark()
            mark_s = time.perf_counter() - t0
            since = time.strftime("%Y-%m-%d %H:%M:%S")  # upstream: local time, 1 s resolution
            write_journal(run_file, test_entries(ids))
            # -- ours: one read after the cursor, bounded wait only on a miss
            t0 = time.perf_counter()
            result = verifier.verify(marks, ids)
            ours.append(mark_s + time.perf_counter() - t0)
            assert result.ok, result.message()
            # -- upstream on the same journal
            t0 = time.perf_counter()
            upstream_check(folder, since, ids, UPSTREAM_DEADLINE_S)
            theirs.append(time.perf_counter() - t0)

        # -- a miss (a box that never reached the runner): wall and CPU for each method
        ghost = ["bx-never-logged"]
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        marks = verifier.mark()
        miss = verifier.verify(marks, ghost)
        ours_miss_wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        assert not miss.ok
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        polls = upstream_check(
            folder, time.strftime("%Y-%m-%d %H:%M:%S"), ghost, UPSTREAM_DEADLINE_S
        )
        theirs_miss_wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        source.close()
        run_file.unlink(missing_ok=True)
    cpu = lambda a, b: (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)  # noqa: E731
    return {
        "ours_median_ms": statistics.median(ours) * 1e3,
        "ours_p95_ms": _p95(ours) * 1e3,
        "upstream_median_ms": statistics.median(theirs) * 1e3,
        "upstream_p95_ms": _p95(theirs) * 1e3,
        "ours_miss_wall_s": ours_miss_wall,
        "ours_miss_cpu_s": cpu(r0, r1),
        "upstream_miss_wall_s": theirs_miss_wall,
        "upstream_miss_cpu_s": cpu(c0, c1),
        "upstream_miss_polls": polls,
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="history sizes, comma-separated")
    parser.add_argument("--tests", type=int, default=15, help="simulated tests per size")
    parser.add_argument("--boxes", type=int, default=1, help="boxes per simulated test")
    args = parser.parse_args()
    if shutil.which("journalctl") is None:
        print("journalctl not found (needed for the upstream method)", file=sys.stderr)
        return 2
    print(
        f"path check cost per test ({args.boxes} box(es)/test, {args.tests} tests, "
        "hit = every box logged; miss = one box never logged, 5 s deadline)"
    )
    header = (
        f"{'entries':>10} | {'ours med':>9} {'ours p95':>9} | {'upstream med':>12} "
        f"{'upstream p95':>12} | {'miss: ours wall/cpu':>20} | "
        f"{'miss: upstream wall/cpu/polls':>31}"
    )
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench_size(size, args.tests, args.boxes)
        print(
            f"{size:>10,} | {r['ours_median_ms']:>7.2f}ms {r['ours_p95_ms']:>7.2f}ms | "
            f"{r['upstream_median_ms']:>10.1f}ms {r['upstream_p95_ms']:>10.1f}ms | "
            f"{r['ours_miss_wall_s']:>8.2f}s/{r['ours_miss_cpu_s']:>6.3f}s    | "
            f"{r['upstream_miss_wall_s']:>10.2f}s/{r['upstream_miss_cpu_s']:>6.2f}s/"
            f"{r['upstream_miss_polls']:>3}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
