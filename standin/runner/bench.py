"""Measure the stand-in runner through the real SDK: box create time, exec round-trip time.

Not a test: it prints numbers, so a change that slows the runner shows up when someone looks.
It starts its own runner (a temp state dir, `--port 0`, a busybox rootfs built on the spot),
so it never touches a running stack:

    .venv/bin/python -m standin.runner.bench [--execs 100] [--creates 10]

Exec round trip = `box.exec("echo", ["hi"])` + draining stdout/stderr + `wait()`, sequential
on one box: the latency a test pays per exec. Create = `rt.create()` until the 201 arrives
(rootfs copy + sandbox start), each box removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boxlite

from standin import images
from standin.benchutil import summary, wait_listening


def start_runner(work: Path, token: str) -> tuple[subprocess.Popen, str]:
    rootfs = work / "rootfs"
    rootfs.mkdir()
    images.populate_rootfs(rootfs)
    log = work / "runner.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "standin",
            "runner",
            "--port",
            "0",
            "--state-dir",
            str(work / "state"),
            "--log-file",
            str(log),
            "--image-dir",
            f"{images.IMAGE_REF}={rootfs}",
        ],
        env={**os.environ, "DEFAULT_RUNNER_API_KEY": token},
        stdin=subprocess.DEVNULL,
    )
    return proc, wait_listening(proc, log, "runner")


async def exec_round_trip(box: boxlite.Box) -> float:
    started = time.perf_counter()
    ex = await box.exec("echo", ["hi"])

    async def collect(stream) -> str:
        return "".join([chunk async for chunk in stream])

    out, _ = await asyncio.gather(collect(ex.stdout()), collect(ex.stderr()))
    result = await ex.wait()
    elapsed = time.perf_counter() - started
    if out != "hi\n" or result.exit_code != 0:
        raise SystemExit(f"bench: exec returned {out!r} / {result.exit_code}")
    return elapsed


async def measure(url: str, token: str, execs: int, creates: int) -> list[str]:
    rt = boxlite.Boxlite.rest(
        boxlite.BoxliteRestOptions(url=url, credential=boxlite.ApiKeyCredential(token))
    )
    create_times = []
    for _ in range(creates):
        started = time.perf_counter()
        box = await rt.create(boxlite.BoxOptions(image=images.IMAGE_REF))
        create_times.append(time.perf_counter() - started)
        await rt.remove(box.id, force=True)
    box = await rt.create(boxlite.BoxOptions(image=images.IMAGE_REF))
    try:
        await exec_round_trip(box)  # warm-up, not counted
        exec_times = [await exec_round_trip(box) for _ in range(execs)]
    finally:
        await rt.remove(box.id, force=True)
    return [summary("box create", create_times), summary("exec round trip", exec_times)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--execs", type=int, default=100)
    parser.add_argument("--creates", type=int, default=10)
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        proc, url = start_runner(Path(tmp), token)
        try:
            lines = asyncio.run(measure(url, token, args.execs, args.creates))
        finally:
            proc.terminate()
            proc.wait(15)
    print(f"stand-in runner, {os.cpu_count()} cores, boxlite SDK {boxlite.__version__}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
