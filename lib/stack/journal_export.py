"""Write real systemd journal files without journald, for self-tests and the benchmark.

systemd is not PID 1 on the hosts this harness is developed on, so there is no journald to
log into. `systemd-journal-remote -o FILE -` turns Journal Export Format on stdin into a real
journal file (the same on-disk format journald writes), which `systemd.journal.Reader` and
`journalctl -D/--file` read like any other. That lets the journal log source be tested
against the real library, cursors and all, instead of a mock.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

JOURNAL_REMOTE_CANDIDATES = (
    "/lib/systemd/systemd-journal-remote",
    "/usr/lib/systemd/systemd-journal-remote",
)
# Any fixed 128-bit id: entries need a boot id for monotonic timestamps to be meaningful.
BOOT_ID = "5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e"


def journal_remote() -> str:
    """Path of systemd-journal-remote; FileNotFoundError saying how to install it."""
    for candidate in JOURNAL_REMOTE_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("systemd-journal-remote")
    if found:
        return found
    raise FileNotFoundError(
        "systemd-journal-remote not found: install Debian's systemd-journal-remote "
        "(make setup does)"
    )


@dataclass(frozen=True)
class Entry:
    """One journal entry to write: unit, message, optional realtime timestamp (us)."""

    unit: str
    message: str
    realtime_us: int | None = None


def _field(name: str, value: str) -> bytes:
    raw = value.encode("utf-8")
    if b"\n" in raw:
        # Export format: binary-safe fields are NAME\n<le64 length><data>\n.
        return name.encode() + b"\n" + len(raw).to_bytes(8, "little") + raw + b"\n"
    return name.encode() + b"=" + raw + b"\n"


def export_records(entries: Iterable[Entry], *, start_us: int | None = None) -> Iterator[bytes]:
    """Journal Export Format records; timestamps default to now + 1 us per entry."""
    base = start_us if start_us is not None else int(time.time() * 1e6)
    for i, entry in enumerate(entries):
        ts = entry.realtime_us if entry.realtime_us is not None else base + i
        unit = entry.unit if entry.unit.endswith(".service") else f"{entry.unit}.service"
        yield (
            _field("__REALTIME_TIMESTAMP", str(ts))
            + _field("__MONOTONIC_TIMESTAMP", str(i + 1))
            + _field("_BOOT_ID", BOOT_ID)
            + _field("_SYSTEMD_UNIT", unit)
            + _field("SYSLOG_IDENTIFIER", unit.removesuffix(".service"))
            + _field("MESSAGE", entry.message)
            + b"\n"
        )


def write_journal(output: Path, entries: Iterable[Entry], *, start_us: int | None = None) -> Path:
    """Append entries to journal file `output` (must end in .journal); created if absent."""
    output = Path(output)
    if output.suffix != ".journal":
        raise ValueError(f"{output}: journal file names must end in .journal")
    proc = subprocess.Popen(
        [journal_remote(), "-o", str(output), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    try:
        for record in export_records(entries, start_us=start_us):
            proc.stdin.write(record)
    finally:
        proc.stdin.close()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"systemd-journal-remote failed ({proc.returncode}): {err.strip()}")
    return output
