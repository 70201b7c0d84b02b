"""Exec options through every SDK on the axis: env, working dir, tty, timeout.

Each SDK's binding builds the exec request itself (Python keyword arguments, the Node
binding's positional `exec(command, args, env, tty, user, timeoutSecs, workingDir)`), so an
option one binding drops or misplaces is exactly the kind of bug the Python-only cases
cannot see (compare boxlite-ai/boxlite#686, exec `user` dropped by the Python SDK). The
contracts match cases/test_exec_options.py and cases/test_exec_timeout.py.
"""

from __future__ import annotations

import secrets
import time

import pytest

from lib.harness.sdk.base import ClientError, assert_kind

TIMEOUT_S = 1.0
BOUND_S = 45.0  # "it terminates", not a performance claim


@pytest.mark.sdk_needs("exec_env")
async def test_env_is_visible_and_does_not_leak(sdk_box):
    env = {f"E2E_VAR_{i}": f"value {i} with spaces" for i in range(10)}
    script = 'for i in $(seq 0 9); do eval "echo \\"$i=\\$E2E_VAR_$i\\""; done'
    out = await sdk_box.sh(script, env=env)
    assert (out.exit_code, out.stdout) == (
        0,
        "".join(f"{i}=value {i} with spaces\n" for i in range(10)),
    ), out
    again = await sdk_box.sh('echo "[${E2E_VAR_0-unset}]"')
    assert again.stdout == "[unset]\n", again


@pytest.mark.sdk_needs("exec_env")
async def test_working_dir_is_honoured(sdk_box):
    await sdk_box.sh("mkdir -p '/tmp/dir with spaces'")
    out = await sdk_box.run("pwd", working_dir="/tmp/dir with spaces")
    assert (out.exit_code, out.stdout) == (0, "/tmp/dir with spaces\n"), out


@pytest.mark.sdk_needs("exec_env")
async def test_missing_working_dir_is_a_typed_error(sdk_box):
    with pytest.raises(ClientError) as caught:
        await sdk_box.run("pwd", working_dir="/no/such/dir-" + secrets.token_hex(3))
    assert_kind(caught.value)


async def test_tty_is_a_terminal_and_pipes_are_not(sdk_box):
    tty = await sdk_box.sh("[ -t 0 ] && [ -t 1 ] && echo tty; exit 7", tty=True)
    assert (tty.exit_code, tty.stdout.replace("\r\n", "\n")) == (7, "tty\n"), tty
    pipe = await sdk_box.sh("[ -t 1 ] && echo tty || echo pipe")
    assert (pipe.exit_code, pipe.stdout) == (0, "pipe\n"), pipe


@pytest.mark.sdk_needs("exec_env")
async def test_timeout_stops_a_sleeping_command(sdk_box):
    started = time.monotonic()
    out = await sdk_box.sh("echo before; sleep 300", timeout=TIMEOUT_S, drain_timeout=BOUND_S)
    took = time.monotonic() - started
    assert out.exit_code != 0, f"a timed-out command reported success: {out}"
    assert out.stdout == "before\n", out
    assert took >= TIMEOUT_S * 0.9, f"ended after {took:.2f}s, before its timeout"
    alive = await sdk_box.run("echo", "alive")
    assert (alive.exit_code, alive.stdout) == (0, "alive\n"), alive
