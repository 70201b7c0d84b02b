"""Log sources against real logs: journal files written by systemd-journal-remote, and
plain files that rotate. Cursor contract: nothing read twice, nothing missed."""

from __future__ import annotations

import os
import threading
import time

import pytest

from lib.harness.logsources import FileSource, JournalSource, LogUnreadable
from lib.stack.journal_export import Entry, write_journal

RUNNER = "boxlite-runner"


def runner(msg: str) -> Entry:
    return Entry(RUNNER, msg)


def noise(msg: str) -> Entry:
    return Entry("boxlite-api", msg)


# --------------------------------------------------------------------------- journal


@pytest.fixture
def jdir(tmp_path):
    d = tmp_path / "journal"
    d.mkdir()
    return d


def test_journal_unit_filter_and_cursor_reads_each_entry_once(jdir):
    write_journal(jdir / "a.journal", [runner("r0"), noise("n0"), runner("r1")])
    src = JournalSource(RUNNER, path=jdir)
    cur = src.cursor()
    assert cur is not None
    lines, cur2 = src.read(cur)
    assert lines == []  # nothing new since the cursor; the cursor entry itself is skipped
    write_journal(jdir / "a.journal", [noise("n1"), runner("r2 box_id=x"), runner("r3")])
    lines, cur3 = src.read(cur2)
    assert [line.split(" ", 1)[1] for line in lines] == ["r2 box_id=x", "r3"]
    assert src.read(cur3)[0] == []  # nothing twice
    write_journal(jdir / "a.journal", [runner("r4")])
    assert [line.split(" ", 1)[1] for line in src.read(cur3)[0]] == ["r4"]


def test_journal_entries_carry_utc_timestamp(jdir):
    write_journal(jdir / "a.journal", [runner("x")], start_us=1_700_000_000_000_000)
    lines, _ = JournalSource(RUNNER, path=jdir).read(None)
    assert lines == ["2023-11-14T22:13:20.000000Z x"]


def test_journal_sees_new_files_in_directory(jdir):
    write_journal(jdir / "a.journal", [runner("old")])
    src = JournalSource(RUNNER, path=jdir)
    cur = src.cursor()
    write_journal(jdir / "b.journal", [runner("in new file")])
    lines, _ = src.read(cur)
    assert [line.split(" ", 1)[1] for line in lines] == ["in new file"]


def test_journal_many_entries_nothing_missed(jdir):
    write_journal(jdir / "a.journal", [runner("seed")])
    src = JournalSource(RUNNER, path=jdir)
    cur = src.cursor()
    seen: list[str] = []
    for batch in range(5):
        write_journal(
            jdir / "a.journal",
            [runner(f"m{batch}-{i}") if i % 3 else noise("x") for i in range(300)],
        )
        lines, cur = src.read(cur)
        seen += [line.split(" ", 1)[1] for line in lines]
    expected = [f"m{b}-{i}" for b in range(5) for i in range(300) if i % 3]
    assert seen == expected


def test_journal_empty_unit_cursor_is_none_then_reads_from_head(jdir):
    write_journal(jdir / "a.journal", [noise("only noise")])
    src = JournalSource(RUNNER, path=jdir)
    cur = src.cursor()
    assert cur is None and src.is_empty(cur)
    write_journal(jdir / "a.journal", [runner("first")])
    assert [line.split(" ", 1)[1] for line in src.read(cur)[0]] == ["first"]


def test_journal_wait_returns_on_append_before_timeout(jdir):
    write_journal(jdir / "a.journal", [runner("seed")])
    src = JournalSource(RUNNER, path=jdir)
    cur = src.cursor()
    writer = threading.Timer(0.2, write_journal, (jdir / "a.journal", [runner("late")]))
    writer.start()
    t0 = time.monotonic()
    lines: list[str] = []
    while not lines and time.monotonic() - t0 < 5:
        src.wait(cur, 5)
        lines, cur = src.read(cur)
    writer.join()
    assert [line.split(" ", 1)[1] for line in lines] == ["late"]
    assert time.monotonic() - t0 < 4


def test_journal_files_mode(jdir):
    write_journal(jdir / "a.journal", [runner("a")])
    src = JournalSource(RUNNER, files=[jdir / "a.journal"])
    assert "a" in src.read(None)[0][0]


@pytest.mark.parametrize("kind", ["missing", "empty-dir"])
def test_journal_unreadable_is_an_error_not_empty(tmp_path, kind):
    path = tmp_path / "nope"
    if kind == "empty-dir":
        path.mkdir()
    src = JournalSource(RUNNER, path=path)
    with pytest.raises(LogUnreadable) as info:
        src.cursor()
    assert "systemd-journal" in info.value.hint


# --------------------------------------------------------------------------- files


def test_file_reads_only_new_complete_lines(tmp_path):
    log = tmp_path / "r.log"
    log.write_text("old1\nold2\npart")
    src = FileSource(log)
    cur = src.cursor()
    with log.open("a") as fh:
        fh.write("ial\nnew\nhalf")
    lines, cur = src.read(cur)
    assert lines == ["partial", "new"]  # a partial line at mark time belongs to the test
    with log.open("a") as fh:
        fh.write("-done\n")
    lines, cur = src.read(cur)
    assert lines == ["half-done"]
    assert src.read(cur)[0] == []


def test_file_follows_rename_rotation(tmp_path):
    log = tmp_path / "r.log"
    log.write_text("before\n")
    src = FileSource(log)
    cur = src.cursor()
    with log.open("a") as fh:
        fh.write("tail of old\n")
    os.rename(log, tmp_path / "r.log.1")
    log.write_text("head of new\n")
    lines, cur = src.read(cur)
    assert lines == ["tail of old", "head of new"]
    with log.open("a") as fh:
        fh.write("more\n")
    assert src.read(cur)[0] == ["more"]


def test_file_copytruncate_restarts_at_zero(tmp_path):
    log = tmp_path / "r.log"
    log.write_text("a long line before truncation\n")
    src = FileSource(log)
    cur = src.cursor()
    log.write_text("x\n")  # truncated in place, same inode, smaller
    assert src.read(cur)[0] == ["x"]


def test_file_created_after_mark(tmp_path):
    log = tmp_path / "r.log"
    src = FileSource(log)
    cur = src.cursor()
    assert src.is_empty(cur)
    log.write_text("first\n")
    assert src.read(cur)[0] == ["first"]


def test_file_missing_at_read_is_unreadable(tmp_path):
    src = FileSource(tmp_path / "never.log", env_var="BOXLITE_E2E_API_LOG")
    cur = src.cursor()
    with pytest.raises(LogUnreadable) as info:
        src.read(cur)
    assert "BOXLITE_E2E_API_LOG" in info.value.hint


def test_file_directory_is_unreadable(tmp_path):
    with pytest.raises(LogUnreadable, match="not a regular file"):
        FileSource(tmp_path).cursor()


def test_file_wait_returns_when_file_grows(tmp_path):
    log = tmp_path / "r.log"
    log.write_text("x\n")
    src = FileSource(log)
    cur = src.cursor()

    def append():
        with log.open("a") as fh:
            fh.write("late\n")

    timer = threading.Timer(0.1, append)
    timer.start()
    t0 = time.monotonic()
    src.wait(cur, 5)
    timer.join()
    assert time.monotonic() - t0 < 2
    assert src.read(cur)[0] == ["late"]


def test_file_wait_times_out_bounded(tmp_path):
    log = tmp_path / "r.log"
    log.write_text("x\n")
    src = FileSource(log)
    t0 = time.monotonic()
    src.wait(src.cursor(), 0.2)
    assert 0.15 < time.monotonic() - t0 < 1.0
