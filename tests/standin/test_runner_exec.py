"""Exec through the real SDK against a real runner process: streams, stdin, tty, signals.

Each test drives `boxlite.Boxlite.rest(...)` (no mocks) and asserts what a BoxLite user sees:
bytes, exit codes (128+N for signal deaths), timings bounded by the runner's kill grace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import aiohttp
import boxlite
import pytest

from tests.standin.runner_fixtures import BUSYBOX_REF, drain, run

pytestmark = pytest.mark.timeout(120)


async def test_round_trip_keeps_stdout_stderr_and_exit_code(box):
    result = await run(box, "sh", "-c", "echo hello; echo oops >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_code) == ("hello\n", "oops\n", 3)
    assert result.error_message is None


async def test_stdin_is_echoed_by_cat_and_eof_ends_it(box):
    ex = await box.exec("cat")
    stdin = ex.stdin()
    await stdin.send_input(b"first\n")
    await stdin.send_input(b"second\n")
    await stdin.close()
    result = await drain(ex)
    assert (result.stdout, result.exit_code) == ("first\nsecond\n", 0)


async def test_env_and_working_dir_reach_the_command(box):
    result = await run(
        box, "sh", "-c", 'echo "$GREETING:$(pwd)"', env=[("GREETING", "hi there")], cwd="/tmp"
    )
    assert result.stdout == "hi there:/tmp\n"


async def test_tty_is_a_real_terminal_and_resize_reaches_it(box):
    # `read` blocks until we resize; `stty size` then reports the new geometry.
    ex = await box.exec("sh", ["-c", "test -t 0 && echo is-a-tty; read go; stty size"], tty=True)
    await ex.resize_tty(40, 120)
    await ex.stdin().send_input(b"go\n")
    result = await drain(ex)
    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "is-a-tty" in lines
    assert lines[-1] == "40 120"
    assert result.stderr == ""  # a terminal merges both streams into stdout


async def test_signal_term_ends_with_143(box):
    ex = await box.exec("sleep", ["100"])
    await ex.signal(15)
    result = await drain(ex, timeout=20)
    assert result.exit_code == 143


async def test_kill_ends_with_137(box):
    ex = await box.exec("sh", ["-c", "echo started; sleep 100"])
    await ex.kill()
    result = await drain(ex, timeout=20)
    assert result.exit_code == 137


async def test_timeout_of_a_term_ignoring_process_ends_within_the_grace(box):
    started = time.monotonic()
    result = await run(box, "sh", "-c", "trap '' TERM; sleep 100", timeout_secs=1.0, timeout=20)
    elapsed = time.monotonic() - started
    # TERM at 1 s is ignored, KILL follows after the runner's 2 s grace.
    assert result.exit_code == 137
    assert 2.5 < elapsed < 8, elapsed


async def test_timeout_of_a_cooperative_process_is_term(box):
    started = time.monotonic()
    result = await run(box, "sleep", "100", timeout_secs=0.5, timeout=20)
    assert result.exit_code == 143
    assert time.monotonic() - started < 5


async def test_one_mib_of_stdout_arrives_byte_exact(box):
    # 1 MiB of varied bytes (hex text), digest compared on both sides.
    script = "i=0; while [ $i -lt 16384 ]; do printf '%063x\\n' $i; i=$((i+1)); done"
    expected = "".join(f"{i:063x}\n" for i in range(16384))
    assert len(expected) == 1 << 20
    result = await run(box, "sh", "-c", script, timeout=90)
    assert result.exit_code == 0
    assert len(result.stdout) == len(expected)
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == (
        hashlib.sha256(expected.encode()).hexdigest()
    )


async def test_multibyte_utf8_is_never_split_across_frames(box):
    # 360 KB of 3-byte characters behind odd 1-byte prefixes: 64 KiB reads cut characters,
    # and a character split across two frames would decode as U+FFFD on the client.
    chars = "€" * 20000
    script = 'for i in 1 2 3 4 5 6; do printf a; printf "%s" "$CHARS"; done'
    result = await run(box, "sh", "-c", script, env=[("CHARS", chars)])
    assert "\ufffd" not in result.stdout
    assert result.stdout == ("a" + chars) * 6


async def test_twenty_concurrent_execs_on_one_box_keep_their_own_output(box):
    async def one(i: int):
        return await run(box, "sh", "-c", f"echo out-{i}; echo err-{i} >&2; exit {i % 7}")

    results = await asyncio.gather(*(one(i) for i in range(20)))
    for i, result in enumerate(results):
        assert (result.stdout, result.stderr, result.exit_code) == (
            f"out-{i}\n",
            f"err-{i}\n",
            i % 7,
        )


async def test_execution_status_and_reattach_replay_after_completion(runner, box):
    ex = await box.exec("sh", ["-c", "echo one; echo two >&2; exit 4"])
    first = await drain(ex)
    assert first.exit_code == 4
    with runner.http() as http:
        info = http.get(f"/v1/boxes/{box.id}/executions/{ex.id()}").json()
    assert info == {
        "execution_id": ex.id(),
        "status": "completed",
        "exit_code": 4,
        "error_message": None,
    }
    again = await drain(await box.attach(execution_id=ex.id()))
    assert (again.stdout, again.stderr, again.exit_code) == ("one\n", "two\n", 4)


async def test_second_attach_while_attached_is_already_exists(box):
    ex = await box.exec("sh", ["-c", "echo up; sleep 30"])
    # The exec stream attaches in the background; its first output proves it is attached.
    stdout = ex.stdout()
    assert await asyncio.wait_for(anext(stdout), 10) == "up\n"
    with pytest.raises(boxlite.AlreadyExistsError):
        await box.attach(execution_id=ex.id())
    await ex.kill()
    assert (await asyncio.wait_for(ex.wait(), 20)).exit_code == 137


async def test_read_only_attach_replays_but_the_server_refuses_stdin(runner, box):
    # Raw protocol, because the SDK refuses stdin() on a read-only handle before sending.
    with runner.http() as http:
        eid = http.post(
            f"/v1/boxes/{box.id}/exec",
            json={"command": "sh", "args": ["-c", "echo ready; sleep 30"], "tty": False},
        ).json()["execution_id"]
    headers = {"Authorization": f"Bearer {runner.token}"}
    url = f"{runner.url}/v1/boxes/{box.id}/executions/{eid}/attach?stdin=0"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, autoping=False) as ws,
    ):
        first = await ws.receive(timeout=5)
        assert first.type == aiohttp.WSMsgType.PING  # sent right after the 101
        output = await ws.receive(timeout=10)
        assert output.type == aiohttp.WSMsgType.BINARY and output.data == b"\x01ready\n"
        await ws.send_bytes(b"ignored\n")
        error = await ws.receive(timeout=5)
        assert error.type == aiohttp.WSMsgType.TEXT
        assert json.loads(error.data)["code"] == "read_only_attach"
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008
    execution = await box.attach(execution_id=eid, stdin=False)
    with pytest.raises(RuntimeError):
        execution.stdin()
    await execution.kill()
    assert (await drain(execution, timeout=20)).exit_code == 137


async def test_main_session_attach_runs_a_shell(box):
    session = await box.attach()
    stdin = session.stdin()
    await stdin.send_input(b"echo main-$((40+2)); exit 5\n")
    result = await drain(session)
    assert "main-42" in result.stdout
    assert result.exit_code == 5


async def test_unknown_execution_reattach_is_session_reaped(box):
    with pytest.raises(boxlite.SessionReapedError):
        await box.attach(execution_id="exdoesnotexist")


async def test_in_band_resize_and_signal_frames_are_honoured(runner, box):
    with runner.http() as http:
        eid = http.post(
            f"/v1/boxes/{box.id}/exec",
            json={"command": "sh", "args": ["-c", "read go; stty size; sleep 30"], "tty": True},
        ).json()["execution_id"]
    headers = {"Authorization": f"Bearer {runner.token}"}
    url = f"{runner.url}/v1/boxes/{box.id}/executions/{eid}/attach"
    output = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers) as ws,
    ):
        await ws.send_str(json.dumps({"type": "resize", "rows": 33, "cols": 99}))
        await ws.send_bytes(b"go\n")
        while b"33 99" not in output:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            output += msg.data[1:]
        await ws.send_str(json.dumps({"type": "signal", "sig": 9}))  # not whitelisted
        refused = await ws.receive(timeout=10)
        assert json.loads(refused.data)["code"] == "invalid_argument"
        await ws.send_str(json.dumps({"type": "signal", "sig": 2}))
        while (msg := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.BINARY:
            pass
        assert json.loads(msg.data) == {"type": "exit", "exit_code": 130}  # 128 + SIGINT
        closing = await ws.receive(timeout=10)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1000


async def test_stopping_a_box_kills_its_executions(runner, box):
    ex = await box.exec("sh", ["-c", "echo up; sleep 100"])
    stdout = ex.stdout()
    assert await asyncio.wait_for(anext(stdout), 10) == "up\n"
    await box.stop()
    assert (await asyncio.wait_for(ex.wait(), 20)).exit_code == 137
    with runner.http() as http:
        info = http.get(f"/v1/boxes/{box.id}/executions/{ex.id()}").json()
    assert (info["status"], info["exit_code"]) == ("killed", 137)


async def test_box_cmd_is_the_main_session(rt):
    box = await rt.create(
        boxlite.BoxOptions(image=BUSYBOX_REF, cmd=["sh", "-c", "echo from-cmd; exec cat"])
    )
    try:
        session = await box.attach()
        stdin = session.stdin()
        await stdin.send_input(b"typed\n")
        await stdin.close()
        result = await drain(session)
        assert (result.stdout, result.exit_code) == ("from-cmd\ntyped\n", 0)
    finally:
        await rt.remove(box.id, force=True)


async def test_resize_without_a_tty_is_invalid_argument(box):
    ex = await box.exec("sleep", ["30"])
    with pytest.raises(boxlite.InvalidArgumentError):
        await ex.resize_tty(40, 120)
    await ex.kill()
    assert (await asyncio.wait_for(ex.wait(), 20)).exit_code == 137
