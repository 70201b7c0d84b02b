"""The SDK axis's own parts: error kinds, availability, the per-SDK summary, and the Node
driver's protocol (a real `node drivers/node/driver.mjs`, no stack needed).

The driver claims, each shown on the real process: it announces itself with its SDK version
and capabilities; a bad line, an unknown op, a missing or mistyped argument and an unknown
handle are refused with a one-line protocol error (never taken for an SDK error); an SDK
error comes back as a `ClientError` with the kind its message names; when the driver dies,
the pending call and every later one raise `DriverCrashed` naming the case that was running
and quoting the driver's last log lines; EOF on stdin ends it cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import boxlite
import pytest

from lib.harness import reports
from lib.harness.sdk import availability as av
from lib.harness.sdk.base import ClientError, assert_kind, kind_of_message
from lib.harness.sdk.driver import (
    DriverCrashed,
    DriverPool,
    DriverProcess,
    DriverProtocolError,
)
from lib.harness.sdk.python_client import kind_of_exception

NODE = av.detect_node(None, os.environ.get("PATH"))
_no_node = pytest.mark.skipif(not NODE.available, reason=f"not applicable: {NODE.reason}")


def needs_node(test):
    """A real `node` driver process: tier `stack` (it starts a process), skipped without node."""
    return pytest.mark.stack(_no_node(test))


# --------------------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("stopped: box bx1 is stopped; start it before exec", "stopped"),
        ("Execution error: cannot run '/x': executable file not found in box", "execution"),
        ("images error: image 'e2e/nope' is not an active snapshot", "image"),
        ("resource exhausted: cpus 64 exceeds the limit", "resource_exhausted"),
        ("box not found: box not found: bx1", "not_found"),
        ("configuration error: auth: unauthorized (HTTP 401)", "auth"),
        ("configuration error: bad url", "config"),
        ("internal error: Invalid API key", "internal"),
        ("something else entirely", "unknown"),
    ],
)
def test_kind_of_message(message, kind):
    assert kind_of_message(message) == kind


def test_python_exceptions_map_to_the_same_kinds():
    assert kind_of_exception(boxlite.StoppedError("x")) == "stopped"
    assert kind_of_exception(boxlite.ConfigError("auth: unauthorized")) == "auth"
    assert kind_of_exception(boxlite.ConfigError("bad")) == "config"
    assert kind_of_exception(boxlite.InternalError("x")) == "internal"


def test_assert_kind_refuses_untyped_and_wrong_kinds():
    assert_kind(ClientError("node", "stopped", "stopped: b"), "stopped")
    with pytest.raises(AssertionError, match="untyped"):
        assert_kind(ClientError("node", "internal", "internal error: x"))
    with pytest.raises(AssertionError, match="untyped"):
        assert_kind(ClientError("node", "unknown", "garbled"))
    with pytest.raises(AssertionError, match="expected kind"):
        assert_kind(ClientError("node", "image", "images error: x"), "stopped")
    with pytest.raises(AssertionError, match="not an SDK error"):
        assert_kind(ValueError("x"))


# --------------------------------------------------------------------------- availability


def test_node_missing_binary_or_package_is_not_applicable_with_a_reason(tmp_path):
    missing = av.detect_node(None, str(tmp_path))  # a PATH without node
    assert not missing.available and "no `node` on PATH" in (missing.reason or "")
    if NODE.available:
        empty = av.detect_node(NODE.argv[0], None, driver_dir=tmp_path)
        assert not empty.available and "not installed" in (empty.reason or "")


def test_go_without_a_built_driver_is_not_applicable(tmp_path):
    go = av.detect_go(None, tmp_path)
    assert not go.available and "no Go driver" in (go.reason or "")
    binary = tmp_path / av.GO_DRIVER_BINARY
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert av.detect_go(None, tmp_path).available


def test_selection_reports_the_unselected_and_refuses_unknown_names(tmp_path):
    found = av.detect_all(
        env={"PATH": ""}, bin_dir=tmp_path, python_version="0", selection={"python"}
    )
    assert found["python"].available
    assert "not selected" in (found["node"].reason or "")
    with pytest.raises(av.SdkSelectionError):
        av.parse_selection("python,rust")


# --------------------------------------------------------------------------- summary


class _Rep:
    def __init__(self, nodeid, when, sdk):
        self.nodeid, self.when = nodeid, when
        self.user_properties = [(reports.PROP_SDK, f'"{sdk}"')]
        self.longrepr = None


def test_sdk_axis_table_takes_the_worst_phase_per_case_and_sdk():
    stats = {
        "passed": [
            _Rep("c/t.py::a[python]", "call", "python"),
            _Rep("c/t.py::b[node-1]", "call", "node"),
        ],
        "error": [_Rep("c/t.py::b[node-1]", "teardown", "node")],
        "skipped": [_Rep("c/t.py::a[go]", "setup", "go")],
        "xfailed": [_Rep("c/t.py::a[node]", "call", "node")],
    }
    axis = reports.sdk_axis(stats)
    assert axis["cases"] == {
        "c/t.py::a": {"python": "passed", "go": "not applicable", "node": "xfailed"},
        "c/t.py::b[1]": {"node": "error"},
    }
    table = reports.sdk_table({"sdk_axis": axis})
    assert table[2] == "| t::a | passed | xfailed | not applicable |"


# --------------------------------------------------------------------------- driver


@pytest.fixture
async def driver(tmp_path):
    proc = DriverProcess(NODE, tmp_path / "node.log", current_test=lambda: "tests::the-case")
    await proc.start()
    yield proc
    await proc.close()


@needs_node
async def test_ready_line_names_the_sdk_and_its_capabilities(driver):
    assert driver.ready["sdk"] == "node" and driver.ready["version"] == NODE.version
    # 0.10.0 has per-exec options and box lifetimes, but no Box.attach(execution_id).
    assert driver.capabilities == frozenset({"exec_env", "box_lifetimes"})
    assert any("event=ready" in line for line in driver.log_lines)


@needs_node
async def test_protocol_errors_are_one_line_refusals(driver):
    await driver.send_raw("not json")
    doc = await asyncio.wait_for(driver.unsolicited.get(), 10)
    assert doc["id"] is None and "not JSON" in doc["protocol_error"]
    await driver.send_raw("[1, 2]")
    doc = await asyncio.wait_for(driver.unsolicited.get(), 10)
    assert "JSON object" in doc["protocol_error"]
    cases = [
        ("no_such_op", {}, "unknown op"),
        ("connect", {}, "'url' is required"),
        ("connect", {"url": 5, "api_key": "k"}, "'url' must be a string"),
        ("exec", {"box": "box99", "command": "true"}, "unknown box handle"),
        ("drain", {"execution": 7}, "must be a execution handle"),
    ]
    for op, args, text in cases:
        with pytest.raises(DriverProtocolError, match=text) as caught:
            await driver.request(op, **args)
        assert "\n" not in str(caught.value)
    assert driver.alive, "a refused request must not take the driver down"


@needs_node
async def test_sdk_errors_come_back_typed(driver):
    rt = (await driver.request("connect", url="http://127.0.0.1:9/api", api_key="k"))["runtime"]
    with pytest.raises(ClientError) as caught:
        await driver.request("list_info", runtime=rt, timeout=60)
    assert caught.value.sdk == "node" and caught.value.message
    assert not isinstance(caught.value, DriverProtocolError)


async def _silent_server():
    """A loopback TCP server that accepts and never answers: a call to it stays pending."""
    held: list[asyncio.StreamWriter] = []
    arrived = asyncio.Event()

    async def hold(_reader, writer):
        held.append(writer)
        arrived.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, held, arrived


@needs_node
async def test_a_crash_fails_the_pending_call_naming_the_case(driver):
    server, held, arrived = await _silent_server()
    port = server.sockets[0].getsockname()[1]
    try:
        rt = (await driver.request("connect", url=f"http://127.0.0.1:{port}/api", api_key="k"))[
            "runtime"
        ]
        pending = asyncio.create_task(driver.request("list_info", runtime=rt, timeout=60))
        await asyncio.wait_for(arrived.wait(), 30)  # the call reached the server: in flight
        os.kill(driver.pid, signal.SIGKILL)
        with pytest.raises(DriverCrashed) as caught:
            await asyncio.wait_for(pending, 30)
        text = str(caught.value)
        assert "killed by signal 9" in text and "during tests::the-case" in text, text
        assert "list_info" in text and "event=op" in text, text  # cut-off call, log tail
        with pytest.raises(DriverCrashed):
            await driver.request("list_info", runtime=rt)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@needs_node
async def test_the_pool_restarts_a_dead_driver_and_keeps_its_log(tmp_path):
    pool = DriverPool({"node": NODE}, tmp_path, "gw0", lambda: None)
    try:
        first = await pool.get("node")
        mark = pool.mark()
        first_pid = first.pid
        os.kill(first_pid, signal.SIGKILL)
        await first.wait_exit()
        second = await pool.get("node")
        assert second.pid != first_pid and second.alive and pool.restarts == {"node": 1}
        assert pool.slices(mark)["node"], "the new driver's lines count as this test's"
        log = await asyncio.to_thread(Path(tmp_path / "node-gw0.log").read_text)
        assert log.count("event=ready") == 2 and "driver died" in log
    finally:
        await pool.close()
    assert not second.alive


@needs_node
async def test_eof_on_stdin_ends_the_driver_cleanly(tmp_path):
    proc = DriverProcess(NODE, tmp_path / "node.log")
    await proc.start()
    await proc.close()
    assert proc._proc is not None and proc._proc.returncode == 0
    assert "stdin closed" in await asyncio.to_thread((tmp_path / "node.log").read_text)


class _CrashingProc:
    """Stands in for a driver that dies while a create is in flight."""

    sdk = "node"
    ready = {"version": "0.10.0", "capabilities": {}}
    capabilities = frozenset()

    async def request(self, op, **args):
        self.sent = args
        raise DriverCrashed("node driver (pid 1) was killed by signal 9 during t::case")


async def test_a_create_cut_off_by_a_crash_is_looked_up_by_name():
    from lib.harness.runtime import BoxLedger
    from lib.harness.sdk.driver import DriverClient

    ledger = BoxLedger("run1")
    lost: list[str] = []

    async def lost_create(name: str) -> None:
        lost.append(name)

    proc = _CrashingProc()
    client = DriverClient(proc, "runtime1", ledger, lost_create)  # type: ignore[arg-type]
    with pytest.raises(DriverCrashed):
        await client.create("e2e/busybox:stable")
    name = proc.sent["name"]
    assert lost == [name] and name.startswith("e2e-run1-")
    # The harness bounds the lifetime of every driver-made box, like rt.create does.
    assert (proc.sent["options"]["auto_stop"], proc.sent["options"]["auto_delete"]) == (300, 600)
