"""Where a hop (runner or API) logs, read incrementally from a cursor.

Path verification must see exactly the lines written while one test ran: wall-clock windows
overlap neighbouring tests and xdist workers, and an unreadable log must not look like an
empty one (history: docs/history.md). So each source has an exact cursor and a cheap read of
only what is new since it:

- `JournalSource`: one persistent `systemd.journal.Reader` per process, matched on
  `_SYSTEMD_UNIT=<unit>.service` (the journal's field index, so cost does not grow with other
  units' noise). The cursor is the journal cursor of the last entry seen; `seek_cursor` lands
  *on* that entry (a first read would return it again), so `test_cursor` skips it. Works on
  the system journal or on a journal directory / explicit files (used by self-tests and benchmarks).
- `FileSource`: byte offset plus inode. Logrotate-style rotation (rename to `X.1`, new file) is
  followed: the rest of the old inode is read from `X.1`, then the new file from 0; a
  copy-truncate shows as a shrunken file and restarts at 0. Only complete lines are consumed.

Both raise `LogUnreadable` (never return "nothing") when the log cannot be read, each with a
hint on how to fix it, so the caller can report "cannot verify" instead of "bypassed".
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lib.errors import HarnessError

# How long one file poll may sleep at most while waiting for late lines. Polling starts at
# 5 ms and doubles: the wait ends as soon as the file changes, so this only bounds latency.
_FILE_POLL_MAX = 0.1
_READ_CHUNK = 1 << 16


class LogUnreadable(HarnessError):
    """The log exists in config but cannot be read by this process (or is not there)."""

    def __init__(self, reason: str, hint: str):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class LogSource(Protocol):
    """One hop's log. Cursors are opaque; `read` returns only lines after the cursor."""

    description: str

    def cursor(self) -> object:
        """Mark the log's current end; raises LogUnreadable when it cannot be read."""

    def read(self, cursor: object) -> tuple[list[str], object]:
        """Lines added after `cursor`, and the cursor after them."""

    def wait(self, cursor: object, timeout: float) -> None:
        """Return once the log may have changed since `cursor`, or after `timeout` seconds."""

    def is_empty(self, cursor: object) -> bool:
        """Whether the log held nothing at all when `cursor` was taken."""


# --------------------------------------------------------------------------- plain files


@dataclass(frozen=True)
class FileCursor:
    """Position after the last complete line consumed; `ino is None` = file absent then."""

    dev: int | None
    ino: int | None
    offset: int


FILE_HINT = (
    "make the log file readable by the user running the tests (e.g. add it to the 'adm' "
    "group or chmod g+r the file), or point {var} at the file the service writes"
)


class FileSource:
    """A plain log file, read from a byte offset that survives rotation."""

    def __init__(self, path: Path | str, *, env_var: str = "BOXLITE_E2E_RUNNER_LOG"):
        self.path = Path(path)
        self.description = f"file {self.path}"
        self._hint = FILE_HINT.format(var=env_var)

    def _unreadable(self, exc: OSError) -> LogUnreadable:
        reason = f"{self.path}: {exc.strerror or exc}"
        return LogUnreadable(reason, self._hint)

    def cursor(self) -> FileCursor:
        """File: inode and the offset after its last complete line (a missing file is offset 0:
        the service may create it); readability is probed up front."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            # The service may create it on first write; the read after the test decides.
            return FileCursor(None, None, 0)
        except OSError as exc:
            raise self._unreadable(exc) from None
        if not _is_regular(st):
            raise LogUnreadable(f"{self.path}: not a regular file", self._hint)
        # Probe readability now, so an unreadable log is reported as such up front.
        try:
            with open(self.path, "rb"):
                pass
        except OSError as exc:
            raise self._unreadable(exc) from None
        return FileCursor(st.st_dev, st.st_ino, _complete_prefix_len(self.path, st.st_size))

    def is_empty(self, cursor: FileCursor) -> bool:
        """File: empty (or absent) when the cursor was taken."""
        return cursor.offset == 0

    def read(self, cursor: FileCursor) -> tuple[list[str], FileCursor]:
        """File: complete lines past the offset; after a rotation the old inode is finished from
        `<name>.1` first, after a truncation it restarts at 0."""
        lines: list[str] = []
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below, fstat needs the fd
        except OSError as exc:
            raise self._unreadable(exc) from None
        with fh:
            st = os.fstat(fh.fileno())
            if not _is_regular(st):
                raise LogUnreadable(f"{self.path}: not a regular file", self._hint)
            same_file = (st.st_dev, st.st_ino) == (cursor.dev, cursor.ino)
            if cursor.ino is not None and not same_file:
                # Rotated since the cursor: finish the old inode from its rotated name.
                lines += self._read_rotated(cursor)
                start = 0
            elif same_file and st.st_size >= cursor.offset:
                start = cursor.offset
            else:
                start = 0  # new file, or truncated in place (copytruncate)
            fh.seek(start)
            new_lines, consumed = _read_complete_lines(fh)
            lines += new_lines
        return lines, FileCursor(st.st_dev, st.st_ino, start + consumed)

    def _read_rotated(self, cursor: FileCursor) -> list[str]:
        rotated = self.path.with_name(self.path.name + ".1")
        try:
            with open(rotated, "rb") as old:
                st = os.fstat(old.fileno())
                if (st.st_dev, st.st_ino) != (cursor.dev, cursor.ino):
                    return []  # rotated more than once, or not this scheme: nothing to add
                old.seek(cursor.offset)
                lines, _ = _read_complete_lines(old, final_partial=True)
                return lines
        except OSError:
            return []

    def wait(self, cursor: FileCursor, timeout: float) -> None:
        """Return once the file differs from the cursor (grew, rotated) or after timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        delay = 0.005
        while True:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) != (cursor.dev, cursor.ino) or (
                    st.st_size > cursor.offset
                ):
                    return
            except OSError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _FILE_POLL_MAX)


def _is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def _complete_prefix_len(path: Path, size: int) -> int:
    """Offset just after the last newline at or before `size` (a partial line is new)."""
    if size == 0:
        return 0
    with open(path, "rb") as fh:
        pos = size
        while pos > 0:
            step = min(_READ_CHUNK, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                return pos - step + idx + 1
            pos -= step
    return 0


# ANSI SGR/CSI sequences. The real API logs through pino-pretty with `colorize: true` outside
# production (upstream apps/api/src/common/utils/pino.util.ts), so a box id can sit between
# colour codes; matching is done on the text without them (issue 13 M6).
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _read_complete_lines(fh, *, final_partial: bool = False) -> tuple[list[str], int]:
    data = fh.read()
    end = len(data) if final_partial else data.rfind(b"\n") + 1
    body = _ANSI.sub(b"", data[:end])
    text = body.decode("utf-8", errors="replace")
    return text.splitlines(), end


# --------------------------------------------------------------------------- journal

JOURNAL_HINT = (
    "add the user running the tests to the 'systemd-journal' (or 'adm') group, run as root, "
    "or set BOXLITE_E2E_RUNNER_LOG to a file the runner writes"
)


class JournalSource:
    """Entries of one systemd unit, from the system journal or a journal dir / files."""

    def __init__(
        self,
        unit: str,
        *,
        path: Path | str | None = None,
        files: list[Path | str] | None = None,
        reader_factory: Callable[..., object] | None = None,
    ):
        self.unit = unit if unit.endswith(".service") else f"{unit}.service"
        self.path = Path(path) if path is not None else None
        self.files = [str(f) for f in files] if files else None
        where = (
            f"journal dir {self.path}"
            if self.path
            else f"journal files {', '.join(self.files)}"
            if self.files
            else "system journal"
        )
        self.description = f"{where}, unit {self.unit}"
        self._factory = reader_factory
        self._reader = None

    # The Reader is opened lazily and kept: re-opening costs ~10 ms on a large journal
    # (measured on a synthetic 600-file journal), a kept one reads a cursor window in ~1 ms.
    def _open(self):
        if self._reader is not None:
            return self._reader
        try:
            from systemd import journal
        except ImportError as exc:  # pragma: no cover - a hard dependency
            raise LogUnreadable(f"systemd-python unavailable: {exc}", JOURNAL_HINT) from None
        factory = self._factory or journal.Reader
        try:
            if self.path is not None:
                reader = factory(path=str(self.path))
            elif self.files is not None:
                reader = factory(files=self.files)
            else:
                # SYSTEM_ONLY: without it a user outside systemd-journal still opens their own
                # user journal, sees entries, and a missing unit would look like "bypassed".
                reader = factory(flags=journal.SYSTEM_ONLY)
        except OSError as exc:
            raise LogUnreadable(
                f"{self.description}: {exc.strerror or exc}", JOURNAL_HINT
            ) from None
        # sd_journal silently skips files it may not read; zero bytes opened means we can
        # see nothing at all, which is "unreadable", not "the runner logged nothing".
        if reader.get_usage() == 0:
            reader.close()
            raise LogUnreadable(f"{self.description}: no readable journal files", JOURNAL_HINT)
        reader.add_match(_SYSTEMD_UNIT=self.unit)
        reader.fileno()  # sets up inotify so wait()/process() notice appends and new files
        self._reader = reader
        return reader

    def close(self) -> None:
        """Close the cached journal reader; the next use reopens it."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def cursor(self) -> str | None:
        """Journal: the cursor of the unit's last entry, None while it has none."""
        reader = self._open()
        reader.process()
        reader.seek_tail()
        # After seek_tail only get_previous lands on the last entry reliably (systemd #9934).
        return reader._get_cursor() if reader._previous() else None

    def is_empty(self, cursor: str | None) -> bool:
        """Journal: the unit had no entry when the cursor was taken."""
        return cursor is None

    def read(self, cursor: str | None) -> tuple[list[str], str | None]:
        """Journal: the unit's entries after the cursor (all of them from a None cursor)."""
        reader = self._open()
        reader.process()
        if cursor is None:
            reader.seek_head()
        else:
            reader.seek_cursor(cursor)
        lines: list[str] = []
        last = cursor
        first = True
        for _ in _advance(reader):
            if first and cursor is not None and reader.test_cursor(cursor):
                first = False
                continue  # seek_cursor positions on the already-read entry itself
            first = False
            lines.append(_entry_line(reader))
            last = reader._get_cursor()
        return lines, last

    def wait(self, cursor: str | None, timeout: float) -> None:
        """Journal: `sd_journal_wait`, which returns on any journal change or after `timeout`."""
        reader = self._open()
        reader.wait(max(0.0, timeout))


def _advance(reader) -> Iterator[None]:
    # The private `_next`/`_get` calls avoid converting every field of every entry into a
    # dict (what get_next() does); we only need MESSAGE and the timestamp.
    while reader._next():
        yield None


def _entry_line(reader) -> str:
    try:
        message = reader._get("MESSAGE")
    except KeyError:
        message = b""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    try:
        usec = int(reader._get_realtime())
        stamp = _dt.datetime.fromtimestamp(usec / 1e6, _dt.timezone.utc)
        prefix = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z "
    except (OSError, ValueError, OverflowError):
        prefix = ""
    return prefix + str(message)
