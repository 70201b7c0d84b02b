"""The run liveness record (lib.harness.runlease): what "provably dead" means.

A run is dead only when its record is here, for this host and this API/org, and no process
holds its lock. Everything else is `live` or `unknown`, which the sweep never touches.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from lib.harness import runlease
from lib.names import REPO_ROOT

API, ORG = "http://127.0.0.1:1/api", "org"


def _state(runs, run_id, api=API, org=ORG) -> str:
    with runlease.claim_dead(runs, run_id, api, org) as state:
        return state


HOLDER = """
import sys
from lib.harness import runlease
runlease.RunLease(sys.argv[1], sys.argv[2]).hold()
print("held", flush=True)
sys.stdin.read()
"""


def test_live_while_held_dead_once_released(tmp_path):
    lease = runlease.RunLease(tmp_path, "abcd1234")
    lease.hold({"api_url": API, "prefix": ORG})
    assert _state(tmp_path, "abcd1234") == runlease.LIVE
    lease.release()
    assert _state(tmp_path, "abcd1234") == runlease.DEAD
    lease.release(forget=True)
    assert _state(tmp_path, "abcd1234") == runlease.UNKNOWN  # no record: cannot prove


def test_a_worker_holding_the_lock_keeps_the_run_live(tmp_path):
    controller = runlease.RunLease(tmp_path, "abcd1234")
    controller.hold({"api_url": API, "prefix": ORG})
    controller.release()  # the controller is gone...
    worker = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), "abcd1234"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline() == "held\n"
        assert _state(tmp_path, "abcd1234") == runlease.LIVE  # ...but a worker lives on
    finally:
        worker.communicate("", timeout=30)
    assert _state(tmp_path, "abcd1234") == runlease.DEAD


def test_another_host_or_stack_proves_nothing(tmp_path):
    lease = runlease.RunLease(tmp_path, "abcd1234")
    lease.hold({"api_url": API, "prefix": ORG})
    lease.release()
    assert _state(tmp_path, "abcd1234", api="http://other/api") == runlease.UNKNOWN
    assert _state(tmp_path, "abcd1234", org="other-org") == runlease.UNKNOWN
    path = runlease.record_path(tmp_path, "abcd1234")
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "host": socket.gethostname() + "-elsewhere"}))
    assert _state(tmp_path, "abcd1234") == runlease.UNKNOWN


def test_record_is_private(tmp_path):
    lease = runlease.RunLease(tmp_path / "runs", "abcd1234")
    lease.hold({"api_url": API, "prefix": ORG})
    try:
        assert runlease.record_path(tmp_path / "runs", "abcd1234").stat().st_mode & 0o777 == 0o600
    finally:
        lease.release(forget=True)
