"""Path verification verdicts on real log files and journals: ok, bypassed, cannot verify."""

from __future__ import annotations

import threading
import time

import pytest

from lib.harness.logsources import FileSource, JournalSource
from lib.harness.path_verification import Outcome, PathVerifier, id_pattern
from lib.stack.journal_export import Entry, write_journal


@pytest.fixture
def logs(tmp_path):
    runner = tmp_path / "runner.log"
    api = tmp_path / "api.log"
    runner.write_text("component=runner event=start\n")
    api.write_text("component=api event=start\n")
    return runner, api


def append(path, line):
    with path.open("a") as fh:
        fh.write(line + "\n")


def verifier(runner, api, deadline=0.5):
    return PathVerifier(
        {"runner": FileSource(runner), "api": FileSource(api, env_var="BOXLITE_E2E_API_LOG")},
        deadline=deadline,
    )


def test_id_pattern_matches_whole_tokens_only():
    pat = id_pattern(["b1", "a-b"])
    assert pat.findall("box_id=b1 name=x") == ["b1"]
    assert pat.findall("box_id=b12 name=xb1") == []
    assert pat.findall('name="a-b"') == ["a-b"]
    assert pat.findall("path=/v1/p/boxes/b1/exec") == ["b1"]
    assert id_pattern(["a.b"]).findall("aXb") == []  # regex specials are escaped


def test_ok_when_both_hops_name_the_box(logs):
    runner, api = logs
    v = verifier(runner, api)
    marks = v.mark()
    append(api, "component=api event=request method=POST status=201 box_id=bx1")
    append(runner, "component=runner event=box.create box_id=rb1 name=bx1")
    result = v.verify(marks, ["bx1"])
    assert result.ok and result.outcome is Outcome.OK
    assert "path ok" in result.message()
    assert result.elapsed < 0.5  # no wait when everything is already there
    hops = {h.hop: h for h in result.hops}
    assert hops["runner"].lines == ["component=runner event=box.create box_id=rb1 name=bx1"]


def test_bypassed_api_when_only_runner_saw_it(logs):
    runner, api = logs
    v = verifier(runner, api, deadline=0.3)
    marks = v.mark()
    append(api, "component=api event=request path=/api/health")
    append(runner, "component=runner event=box.create box_id=rb7")
    result = v.verify(marks, ["rb7"], names={"rb7": "e2e-x-1"})
    assert result.outcome is Outcome.BYPASSED
    msg = result.message()
    assert msg.startswith("bypassed api:")
    assert "rb7 (e2e-x-1)" in msg
    assert "runner" not in msg.split("\n")[0].split(":")[0]
    assert 0.25 <= result.elapsed < 2


def test_lines_from_before_the_mark_do_not_count(logs):
    runner, api = logs
    append(runner, "box_id=rb1 name=bx1")
    append(api, "box_id=bx1")
    v = verifier(runner, api, deadline=0.2)
    marks = v.mark()
    result = v.verify(marks, ["bx1"])
    assert result.outcome is Outcome.BYPASSED


def test_late_lines_are_waited_for_not_slept_for(logs):
    runner, api = logs
    v = verifier(runner, api, deadline=5)
    marks = v.mark()
    append(api, "box_id=bx2")

    def late():
        append(runner, "box_id=rb2 name=bx2")

    timer = threading.Timer(0.3, late)
    timer.start()
    result = v.verify(marks, ["bx2"])
    timer.join()
    assert result.ok
    assert 0.25 <= result.elapsed < 2.0  # ended on the line, far before the 5 s deadline


def test_unreadable_runner_log_is_cannot_verify_not_bypassed(logs, tmp_path):
    _, api = logs
    v = PathVerifier(
        {"runner": FileSource(tmp_path), "api": FileSource(api)},  # a directory
        deadline=0.2,
    )
    marks = v.mark()
    append(api, "box_id=bx3")
    result = v.verify(marks, ["bx3"])
    assert result.outcome is Outcome.UNREADABLE
    msg = result.message()
    assert msg.startswith("cannot verify: runner log unreadable")
    assert "bypass" not in msg.split("Fix:")[0]
    assert "BOXLITE_E2E_RUNNER_LOG" in msg


def test_log_that_never_had_a_line_is_cannot_verify(tmp_path):
    runner = tmp_path / "runner.log"
    runner.write_text("")
    api = tmp_path / "api.log"
    api.write_text("start\n")
    v = verifier(runner, api, deadline=0.2)
    marks = v.mark()
    append(api, "box_id=bx4")
    result = v.verify(marks, ["bx4"])
    assert result.outcome is Outcome.UNREADABLE
    assert "no log lines at all" in result.message()


def test_slices_are_capped(logs):
    runner, api = logs
    v = PathVerifier({"runner": FileSource(runner)}, deadline=0.1, slice_cap=100)
    marks = v.mark()
    for i in range(20):
        append(runner, f"box_id=bx5 n={i} " + "x" * 20)
    result = v.verify(marks, ["bx5"])
    hop = result.hops[0]
    assert hop.outcome is Outcome.OK
    assert sum(len(line) + 1 for line in hop.lines) <= 100
    assert hop.truncated


def test_journal_runner_hop(tmp_path, logs):
    _, api = logs
    jdir = tmp_path / "j"
    jdir.mkdir()
    write_journal(jdir / "s.journal", [Entry("boxlite-runner", "started")])
    v = PathVerifier(
        {"runner": JournalSource("boxlite-runner", path=jdir), "api": FileSource(api)},
        deadline=1,
    )
    marks = v.mark()
    write_journal(
        jdir / "s.journal",
        [Entry("other", "box_id=bx6 decoy"), Entry("boxlite-runner", "box_id=rb6 name=bx6")],
    )
    append(api, "box_id=bx6")
    t0 = time.monotonic()
    result = v.verify(marks, ["bx6"])
    assert result.ok, result.message()
    assert time.monotonic() - t0 < 1

    marks = v.mark()
    write_journal(jdir / "s.journal", [Entry("other", "box_id=bx7 only in another unit")])
    append(api, "box_id=bx7")
    result = v.verify(marks, ["bx7"])
    assert result.outcome is Outcome.BYPASSED
    assert result.message().startswith("bypassed runner:")
