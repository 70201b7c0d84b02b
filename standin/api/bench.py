"""Measure what the API hop costs: exec round trip through the API vs straight to the runner.

Not a test: it prints numbers. It starts its own runner and an API in front of it (temp
dirs, `--port 0`), sets the API up like fixture setup does, and times the same exec round trip
(`exec("echo", ["hi"])` + drain + `wait()`, as `standin.runner.bench` defines it) on one box
per path, interleaved direct/API/direct/API so drift (CPU frequency, page cache) hits both
sides alike:

    .venv/bin/python -m standin.api.bench [--execs 100]
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
import httpx

from standin import images
from standin.benchutil import percentile, summary, wait_listening
from standin.runner.bench import exec_round_trip, start_runner

ORG = "org-bench/team-a"  # multi-segment, like the self-tests


def start_api(work: Path, runner_url: str, runner_key: str, admin_key: str):
    log = work / "api.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "standin", "api", "--port", "0", "--runner-url", runner_url,
         "--state-dir", str(work / "api-state"), "--log-file", str(log), "--org-id", ORG],
        env={**os.environ, "ADMIN_API_KEY": admin_key, "DEFAULT_RUNNER_API_KEY": runner_key},
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, wait_listening(proc, log, "API")


def setup_api(url: str, admin_key: str) -> None:
    """Quota up, busybox registered and active: what fixture setup leaves behind."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}) as http:
        quota = {"maxCpuPerBox": 4, "maxMemoryPerBox": 8, "maxDiskPerBox": 20}
        http.patch(f"/admin/organizations/{ORG}/quota", json=quota).raise_for_status()
        ref = images.IMAGE_REF
        http.post("/snapshots", json={"name": ref, "imageName": ref}).raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = http.get(f"/snapshots/{ref.replace('/', '%2F')}").json()["state"]
            if state == "active":
                return
            if state == "error":
                break
            time.sleep(0.05)  # polling the snapshot state, bounded above
    raise SystemExit(f"bench: snapshot {images.IMAGE_REF} did not become active")


async def measure(
    runner_url: str, runner_key: str, api_url: str, admin_key: str, execs: int
) -> tuple[list[float], list[float]]:
    direct_rt = boxlite.Boxlite.rest(
        boxlite.BoxliteRestOptions(url=runner_url, credential=boxlite.ApiKeyCredential(runner_key))
    )
    api_rt = boxlite.Boxlite.rest(
        boxlite.BoxliteRestOptions(
            url=api_url, credential=boxlite.ApiKeyCredential(admin_key), path_prefix=ORG
        )
    )
    direct_box = await direct_rt.create(boxlite.BoxOptions(image=images.IMAGE_REF))
    api_box = await api_rt.create(boxlite.BoxOptions(image=images.IMAGE_REF))
    try:
        await exec_round_trip(direct_box)  # warm-ups, not counted
        await exec_round_trip(api_box)
        direct, through_api = [], []
        for _ in range(execs):
            direct.append(await exec_round_trip(direct_box))
            through_api.append(await exec_round_trip(api_box))
    finally:
        await direct_rt.remove(direct_box.id, force=True)
        await api_rt.remove(api_box.id, force=True)
    return direct, through_api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--execs", type=int, default=100)
    args = parser.parse_args(argv)
    runner_key, admin_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        work = Path(tmp)
        (work / "runner").mkdir()
        runner, runner_url = start_runner(work / "runner", runner_key)
        try:
            api, api_url = start_api(work, runner_url, runner_key, admin_key)
            try:
                setup_api(api_url, admin_key)
                direct, through_api = asyncio.run(
                    measure(runner_url, runner_key, api_url, admin_key, args.execs)
                )
            finally:
                api.terminate()
                api.wait(15)
        finally:
            runner.terminate()
            runner.wait(15)
    print(f"stand-in API proxy overhead, {os.cpu_count()} cores, SDK {boxlite.__version__}")
    print(summary("direct to runner", direct))
    print(summary("through the API", through_api))
    p50 = percentile(through_api, 50) / percentile(direct, 50)
    p95 = percentile(through_api, 95) / percentile(direct, 95)
    extra = (percentile(through_api, 50) - percentile(direct, 50)) * 1000
    print(f"ratio API/direct   p50={p50:.2f}x  p95={p95:.2f}x  (+{extra:.1f} ms at p50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
