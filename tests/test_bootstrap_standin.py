"""bootstrap.sh --stack standin, for real, in a temporary root on free ports.

One stack per module (bringing it up costs ~1-3 s); tests run in file order on it: cold run,
warm run, modes, listeners, fault changes.
"""

from __future__ import annotations

import json
import stat
import time

import httpx
import pytest

from lib.stack import secrets
from tests.stack_helpers import STANDIN_STEPS, listening_addresses

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(make_stack):
    stack = make_stack(bootstrap=False)  # the cold bootstrap is itself under test
    t0 = time.monotonic()
    stack.cold = stack.run("bootstrap.sh", "--stack", "standin")
    stack.timings["cold"] = time.monotonic() - t0
    return stack


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cold_bootstrap_brings_the_stack_up(stack):
    assert stack.cold.returncode == 0, stack.cold.stdout + stack.cold.stderr
    out = stack.cold.stdout
    for step in STANDIN_STEPS:
        assert f"] {step}: " in out, step
    assert "+ pushed " in out and "e2e/busybox:stable" in out
    layout = stack.layout
    assert httpx.get(f"{layout.api_url}/health").status_code == 200
    key = secrets.load(layout.secrets_file)["ADMIN_API_KEY"]
    me = httpx.get(f"{layout.api_url}/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and "sub" in me.json()
    record = json.loads((layout.config_dir / "stack.json").read_text())
    assert record["stack"] == "standin" and record["services"] == "supervisor"
    print(f"cold bootstrap: {stack.timings['cold']:.1f}s")


def test_no_secret_is_ever_printed(stack):
    values = secrets.load(stack.layout.secrets_file)
    assert set(values) >= {"ADMIN_API_KEY", "ENCRYPTION_KEY", "DEFAULT_RUNNER_API_KEY"}
    for value in values.values():
        assert value not in stack.cold.stdout + stack.cold.stderr
    assert "(not printed)" in stack.cold.stdout


def test_secret_and_env_files_are_0600(stack):
    layout = stack.layout
    for path in (layout.secrets_file, layout.env_file, layout.runner_env_file):
        assert _mode(path) == 0o600, path
    runner_env = secrets.parse(layout.runner_env_file.read_text())
    assert set(runner_env) == {"DEFAULT_RUNNER_API_KEY"}  # the runner gets only its token


def test_warm_rerun_changes_nothing_and_keeps_the_secrets(stack):
    before = stack.layout.secrets_file.read_text()
    pids = {p.pid for p in stack.processes()}
    t0 = time.monotonic()
    warm = stack.run("bootstrap.sh", "--stack", "standin")
    stack.timings["warm"] = time.monotonic() - t0
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "bootstrap: done" in warm.stdout and "no changes" in warm.stdout, warm.stdout
    assert ": changed" not in warm.stdout
    assert stack.layout.secrets_file.read_text() == before
    assert {p.pid for p in stack.processes()} == pids  # nothing was restarted
    print(f"warm bootstrap: {stack.timings['warm']:.1f}s")


def test_nothing_listens_beyond_loopback(stack):
    procs = stack.processes()
    names = " ".join(p.name() for p in procs)
    assert len(procs) >= 4, names  # supervisord, registry, API, runner
    addresses = listening_addresses(procs)
    layout = stack.layout
    ports = {port for _, port in addresses}
    assert {layout.api_port, layout.runner_port, layout.registry_port} <= ports
    assert {ip for ip, _ in addresses} <= {"127.0.0.1", "::1"}, addresses


def _runner_faults(stack) -> list[str]:
    token = secrets.load(stack.layout.secrets_file)["DEFAULT_RUNNER_API_KEY"]
    resp = httpx.get(
        f"{stack.layout.runner_url}/v1/_standin/faults",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.text
    return sorted(f["name"] for f in resp.json()["faults"])


def test_faults_restart_with_the_new_set_and_none_clears(stack):
    assert _runner_faults(stack) == []
    run = stack.run(
        "bootstrap.sh",
        "--stack",
        "standin",
        "--fault",
        "attach-no-replay",
        "--fault",
        "quota-clamp",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "boxlite-runner: restarted" in run.stdout and "boxlite-api: restarted" in run.stdout
    assert _runner_faults(stack) == ["attach-no-replay"]
    api_conf = (stack.layout.config_dir / "supervisor.d/boxlite-api.conf").read_text()
    assert "--fault=quota-clamp" in api_conf and "attach-no-replay" not in api_conf

    keep = stack.run("bootstrap.sh", "--stack", "standin")  # no --fault: keep the last set
    assert keep.returncode == 0 and "no changes" in keep.stdout, keep.stdout
    assert _runner_faults(stack) == ["attach-no-replay"]

    clear = stack.run("bootstrap.sh", "--stack", "standin", "--fault", "none")
    assert clear.returncode == 0, clear.stdout + clear.stderr
    assert _runner_faults(stack) == []


def test_unknown_fault_is_refused_before_anything_changes(stack):
    run = stack.run("bootstrap.sh", "--stack", "standin", "--fault", "no-such-fault")
    assert run.returncode == 2
    assert "unknown fault 'no-such-fault'" in run.stderr
    assert run.stdout == ""


def test_dry_run_of_a_running_stack_plans_nothing(stack):
    run = stack.run("bootstrap.sh", "--stack", "standin", "--dry-run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dry run" in run.stdout and "no changes" in run.stdout, run.stdout
