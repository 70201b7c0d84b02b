"""One exec inside a box: the process, its pty or pipes, its output backlog and its end.

Why the backlog: `box.exec()` returns as soon as `POST /exec` answers and opens the attach
WebSocket a few milliseconds later (in the background), so output produced in between must
be kept and replayed. Output is therefore read from the process as fast as it comes and
appended to an indexed chunk log; an attached client is just a cursor into that log, which is
also what makes a re-attach replay everything (and `attach-no-replay` a one-line change).

The process is `nsenter` (see sandbox.py): it forks the command into the box's pid namespace
and exits with the command's status, re-raising a signal death on itself, so
`128 + signal` comes out as the shell convention and the SDK expects (143 TERM, 137 KILL).
Signals meant for the command go to nsenter's single child; kill and the timeout's KILL
escalation go to the whole process group, so a shell's children die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from standin.runner.sandbox import children

STDOUT, STDERR = 1, 2
READ_SIZE = 64 * 1024
# Memory bound per execution: beyond it the oldest chunks are dropped (a reattach then
# replays only the newest output). boxlite serve keeps 256 KiB; more here makes the
# "1 MiB arrives byte-exact" and "reattach replays everything" properties hold with room.
BACKLOG_LIMIT = 32 * 1024 * 1024
# Output ends at EOF on every pipe, not at the process's exit: what the command wrote sits
# in the pipe when it exits, and a starved runner may be scheduled (and read 64 KiB a turn)
# long after, so no deadline counted from the exit is safe. Background children of the
# command are in its process group and hold the same pipes (`sh -c "work &"`): while any of
# them lives it may still write, so the exit frame waits for them (as `docker exec` does;
# a timeout or kill takes the group). Only a holder outside the group (a daemon that left
# it with setsid) can keep a pipe open for ever: once the group is gone, the drain ends
# after ORPHAN_GRACE seconds without new output, then reads what the pipes still hold.
# Nothing the group wrote can be lost that way, only what such a daemon writes later.
ORPHAN_GRACE = 5.0
GROUP_POLL = 0.05  # how often the group is looked at while its output is still open
VEOF = b"\x04"  # what "end of input" means on a terminal: the line discipline's EOF key
# The signals boxlite serve accepts, in-band and over HTTP; others are 400 invalid_argument.
ALLOWED_SIGNALS = frozenset({1, 2, 3, 6, 10, 12, 15, 28})


def split_utf8_tail(data: bytes) -> tuple[bytes, bytes]:
    """Split `data` into (complete, incomplete trailing UTF-8 sequence).

    The SDK decodes every frame on its own (lossy UTF-8), so a character cut across two
    frames would arrive as two replacement characters. Holding back at most three bytes
    until the next read (or EOF) keeps characters whole; binary output is unaffected.
    """
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte & 0xE0 == 0xC0:
            need = 2
        elif byte & 0xF0 == 0xE0:
            need = 3
        elif byte & 0xF8 == 0xF0:
            need = 4
        else:
            return data, b""  # ASCII or an invalid byte: nothing to hold back
        return (data[: end - back], data[end - back :]) if back < need else (data, b"")
    return data, b""


@dataclass
class ExecOptions:
    """What to run; `argv` is the host command line from `Sandbox.enter_argv`."""

    argv: list[str]
    env: dict[str, str]
    tty: bool = False
    timeout: float | None = None
    kill_grace: float = 2.0
    rows: int = 24
    cols: int = 80
    # exec-stdout-drop (#563): when set, this execution's attach streams model the race.
    stdout_drop: bool = False


@dataclass
class Chunk:
    channel: int
    data: bytes


@dataclass
class Execution:
    id: str
    box_id: str
    command: str
    options: ExecOptions
    created_at: float = field(default_factory=time.time)
    status: str = "running"  # running | completed | killed | timed_out
    exit_code: int | None = None
    exited: bool = False  # the process is gone (its output may still be draining)
    finished: bool = False  # exited and drained: the exit frame may be sent
    finished_at: float | None = None
    attach_count: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    on_finish: Callable[[Execution], None] | None = None

    def __post_init__(self) -> None:
        self._chunks: list[Chunk] = []
        self._base = 0  # absolute index of self._chunks[0]
        self._backlog_bytes = 0
        self._pending: dict[int, bytes] = {STDOUT: b"", STDERR: b""}
        self._open_fds: dict[int, int] = {}  # read fd -> channel
        self._last_output = 0.0  # loop time of the newest chunk
        self._eof = asyncio.Event()
        self._exited_event = asyncio.Event()
        self._finished_event = asyncio.Event()
        self._changed = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._master: int | None = None
        self._end_reason: str | None = None  # killed | timed_out, when the runner ended it
        self._tasks: list[asyncio.Task] = []  # strong refs: the loop keeps only weak ones
        self._client: object | None = None  # the attached client (one at a time)

    # ------------------------------------------------------------------ attach claim

    @property
    def attached(self) -> bool:
        return self._client is not None

    def claim(self, client: object) -> bool:
        """Take the single attach slot; False when another client holds it."""
        if self._client is not None:
            return False
        self._client = client
        self.attach_count += 1
        return True

    def release(self, client: object) -> None:
        """Free the slot, but only for its holder: a late cleanup of an old socket must not
        free the slot a newer client holds."""
        if self._client is client:
            self._client = None

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Spawn the process; raises OSError when the host command cannot be started."""
        opts = self.options
        loop = asyncio.get_running_loop()
        if opts.tty:
            master, slave = os.openpty()
            self._master = master
            _set_winsize(master, opts.rows, opts.cols)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *opts.argv, stdin=slave, stdout=slave, stderr=slave, env=opts.env
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            self._watch(os.dup(master), STDOUT)  # a terminal merges both streams
            stdin_fd = os.dup(master)
        else:
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *opts.argv,
                    stdin=in_r,
                    stdout=out_w,
                    stderr=err_w,
                    env=opts.env,
                    start_new_session=True,  # own process group: kill() takes it whole
                )
            except BaseException:
                for fd in (in_w, out_r, err_r):
                    os.close(fd)
                raise
            finally:
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            self._watch(out_r, STDOUT)
            self._watch(err_r, STDERR)
            stdin_fd = in_w
        self._stdin = await _pipe_writer(loop, stdin_fd)
        self._tasks.append(asyncio.create_task(self._supervise()))
        if opts.timeout is not None:
            self._tasks.append(asyncio.create_task(self._enforce_timeout(opts.timeout)))

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # ------------------------------------------------------------------ output

    def _watch(self, fd: int, channel: int) -> None:
        os.set_blocking(fd, False)
        self._open_fds[fd] = channel
        asyncio.get_running_loop().add_reader(fd, self._on_readable, fd)

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave closed, i.e. EOF
                raise
            data = b""
        if data:
            self._append(self._open_fds[fd], data)
        else:
            self._close_reader(fd)

    def _close_reader(self, fd: int) -> None:
        channel = self._open_fds.pop(fd, None)
        if channel is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        self._append(channel, b"", final=True)
        if not self._open_fds:
            self._eof.set()

    def _append(self, channel: int, data: bytes, final: bool = False) -> None:
        data = self._pending[channel] + data
        if final:
            self._pending[channel] = b""
        else:
            data, self._pending[channel] = split_utf8_tail(data)
        if not data:
            return
        self._chunks.append(Chunk(channel, data))
        self._last_output = asyncio.get_running_loop().time()
        self.bytes_out += len(data)
        self._backlog_bytes += len(data)
        while self._backlog_bytes > BACKLOG_LIMIT and len(self._chunks) > 1:
            dropped = self._chunks.pop(0)
            self._backlog_bytes -= len(dropped.data)
            self._base += 1
        self._notify()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    @property
    def end_index(self) -> int:
        """Absolute index one past the newest chunk."""
        return self._base + len(self._chunks)

    def chunk(self, index: int) -> tuple[int, Chunk | None]:
        """The chunk at absolute `index`, skipping forward over dropped ones."""
        index = max(index, self._base)
        if index >= self.end_index:
            return index, None
        return index, self._chunks[index - self._base]

    def changed(self) -> asyncio.Event:
        """An event set at the next change (new output, exit, finish)."""
        return self._changed

    # ------------------------------------------------------------------ end

    async def _supervise(self) -> None:
        assert self._proc is not None
        returncode = await self._proc.wait()
        self.exit_code = returncode if returncode >= 0 else 128 - returncode
        self.exited = True
        if self._end_reason is not None:
            # Ended by the runner (kill, timeout): take the rest of its process group too, so
            # an orphaned child holding stdout does not stall the exit frame.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._exited_event.set()
        self._notify()
        await self._drain_output()
        if self._master is not None:
            os.close(self._master)
            self._master = None
        self.close_stdin_writer()
        self.status = self._end_reason or "completed"
        self.finished = True
        self.finished_at = time.time()
        self._finished_event.set()
        self._notify()
        if self.on_finish is not None:
            self.on_finish(self)

    async def _drain_output(self) -> None:
        """Until EOF on every output fd (see ORPHAN_GRACE for the one bound)."""
        assert self._proc is not None
        pgid = self._proc.pid  # its own group: start_new_session, or setsid for a tty
        while not self._eof.is_set() and _group_alive(pgid):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._eof.wait(), GROUP_POLL)
        loop = asyncio.get_running_loop()
        group_gone = loop.time()
        while not self._eof.is_set():
            idle = loop.time() - max(self._last_output, group_gone)
            if idle >= ORPHAN_GRACE:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._eof.wait(), ORPHAN_GRACE - idle)
        for fd in list(self._open_fds):
            self._read_rest(fd)
            self._close_reader(fd)

    def _read_rest(self, fd: int) -> None:
        """Whatever `fd` holds right now (bounded), before it is closed with a holder left."""
        for _ in range(BACKLOG_LIMIT // READ_SIZE):
            try:
                data = os.read(fd, READ_SIZE)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self._append(self._open_fds[fd], data)

    async def _enforce_timeout(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._finished_event.wait(), timeout)
            return
        except asyncio.TimeoutError:
            pass
        if self.exited:
            # The command ended in time; a background child of its group still holds the
            # output open. Take the group so the exit frame (with the command's code) goes.
            self._kill_group()
            return
        self._end_reason = "timed_out"
        await self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._exited_event.wait(), self.options.kill_grace)
        except asyncio.TimeoutError:
            self._kill_group()

    def _kill_group(self) -> None:
        if self._proc is None or self.finished:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def kill(self, reason: str = "killed") -> None:
        """SIGKILL the command and its process group; the exit frame then says 137.

        After the command exited, only background children holding its output are left:
        they go, and the exit frame keeps the command's own code."""
        if self.finished:
            return
        if not self.exited:
            self._end_reason = self._end_reason or reason
        self._kill_group()

    async def wait_finished(self, timeout: float | None = None) -> None:
        while not self.finished:
            await asyncio.wait_for(self._changed.wait(), timeout)

    # ------------------------------------------------------------------ control

    async def _command_pid(self) -> int | None:
        """nsenter's one child, i.e. the command itself (bounded wait for its fork)."""
        if self._proc is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while not self.exited:
            kids = children(self._proc.pid)
            if kids:
                return kids[0]
            if loop.time() > deadline:
                return None
            await asyncio.sleep(0.005)
        return None

    async def signal(self, signum: int) -> None:
        pid = await self._command_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal size; the kernel sends SIGWINCH to the foreground job."""
        if self._master is not None:
            _set_winsize(self._master, rows, cols)

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin is None or self._stdin.is_closing():
            return
        self.bytes_in += len(data)
        self._stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self._stdin.drain()

    async def close_stdin(self) -> None:
        """`stdin_eof`: close the pipe, or type the EOF key on a terminal."""
        if self.options.tty:
            await self.write_stdin(VEOF)
        else:
            self.close_stdin_writer()

    def close_stdin_writer(self) -> None:
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()

    def info(self) -> dict:
        return {
            "execution_id": self.id,
            "status": self.status,
            "exit_code": self.exit_code if self.finished else None,
            "error_message": None,
        }


def _group_alive(pgid: int) -> bool:
    """Some process of group `pgid` still exists (a zombie counts until it is reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def _pipe_writer(loop: asyncio.AbstractEventLoop, fd: int) -> asyncio.StreamWriter:
    """An asyncio StreamWriter over a raw pipe or pty fd (owns and closes the fd)."""
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", buffering=0)
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)
