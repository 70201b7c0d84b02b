"""The neutral client interface over a driver process (Node now, Go on the cloud stack).

A driver is a long-lived child process that holds one SDK's native handles and answers JSON
lines over stdio (protocol in docs/architecture.md, "SDK drivers"; the Node one is
`drivers/node/driver.mjs`). Why a process the Python fixtures talk to, and not a test
runner in that language: the harness keeps owning every box. Names come from the ledger,
lifetimes are bounded here, creates are recorded for the path check and removed at teardown
by the Python runtime, so a box an SDK made is treated exactly like one Python made.

What a case sees when the driver misbehaves:

- the driver exits or is killed: every pending and later call raises `DriverCrashed`, whose
  message names the case that was running, the exit code, and the last lines of the
  driver's own log; the pool starts a fresh driver for the next case. A create cut off by
  the crash is looked up by its name afterwards (`lost_create`), so even that box is
  recorded and removed;
- a request the driver refuses (bad op, bad argument): `DriverProtocolError`, a harness bug,
  never mistaken for an SDK error;
- no answer in time: `DriverTimeout` naming the op.

The driver's stderr is its log: kept in `results/drivers/<sdk>[-worker].log` and in memory,
so a failing case's report folder gets the lines written while it ran (`DriverPool.mark` /
`slices`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lib.errors import HarnessError
from lib.harness.api import AUTO_DELETE_S, AUTO_STOP_S
from lib.harness.case_helpers import DRAIN_TIMEOUT_S, Output
from lib.harness.runtime import BoxLedger
from lib.harness.sdk.availability import Availability
from lib.harness.sdk.base import Client, ClientBox, ClientError, ClientExec, kind_of_message

START_TIMEOUT_S = 30.0  # node + the native module load in well under a second; bounded anyway
REQUEST_TIMEOUT_S = 120.0  # any call but drain (which gets the case's own bound)
CLOSE_TIMEOUT_S = 5.0
LOG_TAIL = 15
LOG_MEMORY_CAP = 200_000  # lines kept in memory for per-case slices
STREAM_LIMIT = 64 * 1024 * 1024  # one answer line holds a whole drained output


class DriverError(HarnessError):
    """The driver process, not the SDK, failed."""


class DriverCrashed(DriverError):
    """The driver process exited or was killed; names the case it happened in."""

    pass


class DriverProtocolError(DriverError):
    """The driver refused a request as malformed (a harness bug, not an SDK error)."""

    pass


class DriverTimeout(DriverError, AssertionError):
    """The driver did not answer in time."""

    pass


class DriverProcess:
    """One driver child: spawn, request/answer by id, log capture, crash detection."""

    def __init__(
        self,
        availability: Availability,
        log_path: Path,
        current_test: Callable[[], str | None] = lambda: None,
    ):
        self.sdk = availability.sdk
        self.argv = availability.argv
        self.log_path = log_path
        self.current_test = current_test
        self.ready: dict[str, Any] = {}
        self.log_lines: list[str] = []
        self.log_offset = 0  # lines dropped from memory (cap)
        self.unsolicited: asyncio.Queue[dict] = asyncio.Queue()  # answers with id null
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, tuple[asyncio.Future, str]] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._dead: DriverCrashed | None = None
        self._log_file: Any = None
        self._exited = asyncio.Event()  # set once the reader has recorded the exit

    # -- lifecycle
    @property
    def pid(self) -> int | None:
        """The driver's process id (None before start)."""
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        """Started, not exited, no crash recorded."""
        return self._proc is not None and self._dead is None and self._proc.returncode is None

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities the ready line reports as true."""
        caps = self.ready.get("capabilities") or {}
        return frozenset(k for k, v in caps.items() if v is True)

    async def start(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Spawn the driver and wait (bounded) for its ready line."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("a", encoding="utf-8")
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=STREAM_LIMIT,
            start_new_session=True,  # a Ctrl-C of pytest must not kill it mid-teardown
        )
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._read_stdout(ready)),
            asyncio.create_task(self._read_stderr()),
        ]
        try:
            self.ready = await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise DriverCrashed(
                f"{self.sdk} driver {' '.join(self.argv)} sent no ready line within "
                f"{timeout:.0f} s{self._tail()}"
            ) from None
        return self.ready

    async def close(self) -> None:
        """Orderly exit (EOF on stdin), then kill if it lingers; never raises."""
        self._closing = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT_S)
            except asyncio.TimeoutError:
                await self.kill()
        await self._finish_tasks()

    async def kill(self) -> None:
        """SIGKILL the driver and reap it."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT_S)

    async def _finish_tasks(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, CLOSE_TIMEOUT_S)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- log
    def _log(self, line: str) -> None:
        self.log_lines.append(line)
        if len(self.log_lines) > LOG_MEMORY_CAP:
            drop = len(self.log_lines) - LOG_MEMORY_CAP
            del self.log_lines[:drop]
            self.log_offset += drop
        if self._log_file is not None:
            self._log_file.write(line + "\n")
            self._log_file.flush()

    def mark(self) -> int:
        """A position in the driver's log, for `since`."""
        return self.log_offset + len(self.log_lines)

    def since(self, mark: int) -> list[str]:
        """The driver's log lines written after `mark`."""
        return self.log_lines[max(0, mark - self.log_offset) :]

    def _tail(self) -> str:
        tail = self.log_lines[-LOG_TAIL:]
        return ("; last driver log lines:\n  " + "\n  ".join(tail)) if tail else ""

    # -- readers
    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._log(raw.decode("utf-8", errors="replace").rstrip("\n"))

    async def _read_stdout(self, ready: asyncio.Future) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            async for raw in self._proc.stdout:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    # stdout is protocol only; a stray print is a driver bug worth seeing.
                    self._log(f"[harness] non-protocol stdout line: {line[:300]}")
                    continue
                if not isinstance(doc, dict):
                    self._log(f"[harness] non-object stdout line: {line[:300]}")
                    continue
                if doc.get("event") == "ready" and not ready.done():
                    ready.set_result(doc)
                    continue
                slot = self._pending.pop(doc.get("id"), None) if "id" in doc else None
                if slot is None:
                    await self.unsolicited.put(doc)
                elif not slot[0].done():
                    slot[0].set_result(doc)
        finally:
            code = await self._proc.wait()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tasks[1], CLOSE_TIMEOUT_S)  # the log's last lines
            test = self.current_test() or "(between cases)"
            ops = ", ".join(sorted({op for _, op in self._pending.values()})) or "none"
            verb = "exited" if code >= 0 else "was killed by signal"
            self._dead = DriverCrashed(
                f"{self.sdk} driver (pid {self._proc.pid}) {verb} {abs(code)} during {test}; "
                f"calls cut off: {ops}{self._tail()}"
            )
            if not self._closing:
                self._log(f"[harness] driver died: exit {code} during {test}")
            if not ready.done():
                ready.set_exception(self._dead)
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(self._dead)
            self._pending.clear()
            self._exited.set()

    async def wait_exit(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Until the driver's exit has been recorded (calls fail with DriverCrashed)."""
        await asyncio.wait_for(self._exited.wait(), timeout)

    # -- requests
    async def send_raw(self, line: str) -> None:
        """Write one raw line (self-tests of the protocol's refusals)."""
        if not self.alive:
            raise self._dead or DriverCrashed(f"{self.sdk} driver is not running")
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(line.encode() + b"\n")
        await self._proc.stdin.drain()

    async def request(self, op: str, *, timeout: float = REQUEST_TIMEOUT_S, **args: Any) -> dict:
        """One call; the result dict, or ClientError / DriverProtocolError / crash / timeout."""
        if not self.alive:
            raise self._dead or DriverCrashed(f"{self.sdk} driver is not running")
        rid = next(self._ids)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, op)
        try:
            await self.send_raw(json.dumps({"id": rid, "op": op, **args}))
            doc = await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise DriverTimeout(
                f"{self.sdk} driver: {op} did not answer within {timeout:.0f} s"
                f" (in {self.current_test() or 'no case'}){self._tail()}"
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            await asyncio.sleep(0)  # let the reader record the exit
            raise self._dead or DriverCrashed(f"{self.sdk} driver closed its stdin") from None
        finally:
            self._pending.pop(rid, None)
        if doc.get("ok") is True:
            result = doc.get("result")
            return result if isinstance(result, dict) else {}
        if "protocol_error" in doc:
            raise DriverProtocolError(f"{self.sdk} driver refused {op}: {doc['protocol_error']}")
        error = doc.get("error") if isinstance(doc.get("error"), dict) else {}
        message = str(error.get("message") or doc)
        raise ClientError(self.sdk, kind_of_message(message), message, detail=error)


# --------------------------------------------------------------------------- pool


class DriverPool:
    """One driver process per SDK per pytest process, started on first use, restarted after
    a crash (the crash already failed the case it happened in)."""

    def __init__(
        self,
        sdks: Mapping[str, Availability],
        log_dir: Path,
        worker: str | None,
        current_test: Callable[[], str | None],
    ):
        self.sdks = sdks
        self.log_dir = log_dir
        self.worker = worker
        self.current_test = current_test
        self.procs: dict[str, DriverProcess] = {}
        self.restarts: dict[str, int] = {}

    def log_path(self, sdk: str) -> Path:
        """Where `sdk`'s driver log is kept for this process."""
        return self.log_dir / f"{sdk}{'-' + self.worker if self.worker else ''}.log"

    async def get(self, sdk: str) -> DriverProcess:
        """A live driver for `sdk` (started or restarted as needed)."""
        proc = self.procs.get(sdk)
        if proc is not None and proc.alive:
            return proc
        if proc is not None:
            self.restarts[sdk] = self.restarts.get(sdk, 0) + 1
            await proc.close()
        avail = self.sdks[sdk]
        proc = DriverProcess(avail, self.log_path(sdk), self.current_test)
        self.procs[sdk] = proc
        await proc.start()
        return proc

    def mark(self) -> dict[str, tuple[int, int]]:
        """A position in the driver's log, for `since`."""
        return {sdk: (id(p), p.mark()) for sdk, p in self.procs.items()}

    def slices(self, marks: Mapping[str, tuple[int, int]] | None) -> dict[str, list[str]]:
        """Driver log lines written since `marks` (a driver started later: all its lines)."""
        marks = marks or {}
        out = {}
        for sdk, proc in self.procs.items():
            ident, at = marks.get(sdk, (None, 0))
            out[sdk] = proc.since(at if ident == id(proc) else 0)
        return out

    async def close(self) -> None:
        """Close what this object owns; never raises."""
        for proc in self.procs.values():
            await proc.close()


# --------------------------------------------------------------------------- client


class DriverExec(ClientExec):
    """An execution held by the driver."""

    def __init__(self, proc: DriverProcess, handle: str, execution_id: str):
        self._proc, self._h, self.id = proc, handle, execution_id

    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> Output:
        """Everything the execution delivered and how it ended, within `timeout`."""
        try:
            r = await self._proc.request("drain", execution=self._h, timeout=timeout)
        except DriverTimeout:
            raise AssertionError(
                f"execution {self.id} did not finish within {timeout:.0f} s "
                f"({self._proc.sdk} driver: streams not closed or wait() not resolved)"
            ) from None
        return Output(
            r["stdout"], r["stderr"], r["exit_code"], r.get("error_message"), r["stdout_chunks"]
        )

    async def write_stdin(self, data: str) -> None:
        """Send `data` to the command's stdin."""
        await self._proc.request("stdin_write", execution=self._h, data=data)

    async def close_stdin(self) -> None:
        """Close the command's stdin (the command sees EOF)."""
        await self._proc.request("stdin_close", execution=self._h)

    async def kill(self) -> None:
        """SIGKILL the driver and reap it."""
        await self._proc.request("kill", execution=self._h)


class DriverBox(ClientBox):
    """A box held by the driver."""

    def __init__(self, proc: DriverProcess, handle: str, box_id: str, name: str | None):
        self._proc, self._h, self.id, self.name = proc, handle, box_id, name

    async def exec(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        tty: bool = False,
        timeout: float | None = None,
    ) -> ClientExec:
        """Start `command args` in the box with these options; returns once it started."""
        r = await self._proc.request(
            "exec",
            box=self._h,
            command=command,
            args=list(args),
            env=dict(env) if env is not None else None,
            working_dir=working_dir,
            tty=tty,
            timeout_s=timeout,
        )
        return DriverExec(self._proc, r["execution"], r["execution_id"])

    async def attach(self, execution_id: str) -> ClientExec:
        """Re-attach to an execution by id."""
        r = await self._proc.request("attach", box=self._h, execution_id=execution_id)
        return DriverExec(self._proc, r["execution"], r["execution_id"])

    async def stop(self) -> None:
        """Stop the box; its executions end."""
        await self._proc.request("box_stop", box=self._h)

    async def start(self) -> None:
        """Spawn the driver and wait (bounded) for its ready line."""
        await self._proc.request("box_start", box=self._h)


class DriverClient(Client):
    """A REST runtime inside the driver; boxes named and recorded by the harness's ledger."""

    def __init__(
        self,
        proc: DriverProcess,
        runtime: str,
        ledger: BoxLedger,
        lost_create: Callable[[str], Awaitable[None]],
    ):
        self._proc, self._rt, self._ledger, self._lost = proc, runtime, ledger, lost_create
        self.sdk = proc.sdk
        self.version = str(proc.ready.get("version") or "unknown")
        self.capabilities = proc.capabilities

    @classmethod
    async def connect(
        cls,
        proc: DriverProcess,
        *,
        url: str,
        api_key: str,
        prefix: str | None,
        ledger: BoxLedger,
        lost_create: Callable[[str], Awaitable[None]],
    ) -> DriverClient:
        """A REST runtime inside the driver for this stack."""
        r = await proc.request("connect", url=url, api_key=api_key, prefix=prefix or None)
        client = cls(proc, r["runtime"], ledger, lost_create)
        client._target = (url, prefix)
        return client

    _target: tuple[str, str | None] = ("", None)

    async def create(self, image: str, *, name: str | None = None, **options: Any) -> ClientBox:
        """A new box of `image`, named by the ledger (or `name`), its lifetime bounded."""
        name = name or self._ledger.new_name()
        if options.get("auto_stop") is None and options.get("auto_delete") is None:
            options["auto_stop"], options["auto_delete"] = AUTO_STOP_S, AUTO_DELETE_S
        try:
            r = await self._proc.request(
                "create", runtime=self._rt, name=name, options={"image": image, **options}
            )
        except DriverError:
            await self._lost(name)  # the box may exist: find it by name, record it
            raise
        self._ledger.record(r["box_id"], name=name, route=f"{self.sdk}:create")
        return DriverBox(self._proc, r["box"], r["box_id"], r.get("name"))

    async def get(self, id_or_name: str) -> ClientBox | None:
        """The box with this id or name, or None."""
        r = await self._proc.request("get", runtime=self._rt, id_or_name=id_or_name)
        if r.get("box") is None:
            return None
        return DriverBox(self._proc, r["box"], r["box_id"], r.get("name"))

    async def remove(self, id_or_name: str, *, force: bool = False) -> None:
        """Remove a box (`force`: even a running one)."""
        await self._proc.request("remove", runtime=self._rt, id_or_name=id_or_name, force=force)
        self._ledger.mark_removed(id_or_name)

    async def list_ids(self) -> list[str]:
        """The ids of every box this credential sees."""
        r = await self._proc.request("list_info", runtime=self._rt)
        return [b["id"] for b in r.get("boxes", [])]

    async def with_key(self, api_key: str) -> Client:
        """Another runtime of this SDK on the same stack with another credential."""
        url, prefix = self._target
        return await DriverClient.connect(
            self._proc,
            url=url,
            api_key=api_key,
            prefix=prefix,
            ledger=self._ledger,
            lost_create=self._lost,
        )

    async def close(self) -> None:
        """Close what this object owns; never raises."""
        if self._proc.alive:
            with contextlib.suppress(DriverError, ClientError):
                await self._proc.request("close_runtime", runtime=self._rt)
