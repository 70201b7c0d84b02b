"""The process toolbox: run a command and fail with its output's tail, pid liveness, locks.

Why one module: bootstrap steps, the two-sided driver, the mutation matrix and the pins
reader each run child commands whose failure must read as one message ending in the last
lines the child printed (the line that says why is nearly always there); worktree reaping
and service stops ask whether a pid still lives; bootstrap and two-sided each hold one
advisory lock per stack root. Written once here, every caller fails the same way.

`pid_alive` counts a zombie as dead: on a host where PID 1 does not reap (these containers),
a killed child stays a zombie forever, and waiting for it to "exit" would never end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from lib.errors import HarnessError

TAIL_LINES = 30


class CommandFailed(HarnessError):
    """A command exited non-zero, was missing, or ran too long; the message says which."""


class LockBusy(HarnessError):
    """Another process holds the lock."""


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` non-trailing lines of `text`."""
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    what: str = "",
    show: str | None = None,
    check: bool = True,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
    tail_lines: int = TAIL_LINES,
    error: type[Exception] = CommandFailed,
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` capturing its output; raise `error` with the output's tail unless it exits 0.

    stdin is closed unless `input` is given, so a child that prompts fails instead of
    hanging. `what` prefixes the message; `show` replaces the command line in it (for argv
    that carries a secret). With `check=False` only a missing binary or a timeout raises.
    """
    shown = show or shlex.join(argv)
    prefix = f"{what}: " if what else ""
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=new_session,
        )
    except FileNotFoundError:
        raise error(f"{prefix}{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise error(f"{prefix}`{shown}` ran longer than {timeout:g}s") from None
    if check and done.returncode != 0:
        out = tail(done.stdout + done.stderr, tail_lines)
        raise error(f"{prefix}`{shown}` exited {done.returncode}:\n{out}")
    return done


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie is dead: it will never exit on its own)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: bool = False, note_pid: bool = False) -> Iterator[None]:
    """Hold an advisory `flock` on `path` (created 0600) for the block.

    Without `wait`, a held lock raises LockBusy at once. `note_pid` writes our pid into the
    file, so a user who finds it knows whom to ask. The lock goes with the process, so a
    killed holder never leaves a stale lock behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"{path} is held by another process") from None
        if note_pid:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
