"""One box's sandbox: a long-lived bubblewrap "init" and the command line that enters it.

Why this shape: a BoxLite box is a microVM that outlives any single exec, with its own pid
namespace, hostname and (optionally) no network. Here each running box is one
`bwrap ... --unshare-pid ... sleep` over the box's own rootfs copy. bwrap's pid-1 process
holds the namespaces open; every exec joins them with `nsenter -t <pid 1>`, so all execs of a
box share one process tree (`ps` in a box sees them) and one filesystem view. Stopping the
box SIGKILLs that pid 1, and the kernel then kills everything in its pid namespace, execs
included, the way a VM power-off would.

`--die-with-parent` ties every sandbox to the runner process: a crashed or killed runner
leaves no box processes behind (and a restarted runner finds its boxes stopped).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

# The init keeps the namespaces alive and does nothing else. It is the host's static busybox
# bound on bwrap's private /dev, so it works for any image and never writes into the rootfs.
HOST_BUSYBOX = Path("/bin/busybox")
INIT_BIN = "/dev/.standin/sleep"
INIT_ARGV = [INIT_BIN, "2147483647"]
READY_TIMEOUT = 10.0


class SandboxError(RuntimeError):
    """The sandbox could not be started; the message says why."""


@dataclass(frozen=True)
class SandboxSpec:
    rootfs: Path
    hostname: str
    network: bool
    cpus: tuple[int, ...]
    # (host dir, guest path) bind mounts: the box's managed volumes
    binds: tuple[tuple[Path, str], ...] = ()


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SandboxError(f"{name} is not installed (see scripts/setup-host.sh)")
    return path


def cpu_list(cpus: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in cpus)


class Sandbox:
    """A running box init. `start()` returns once the namespaces are ready to enter."""

    def __init__(self, spec: SandboxSpec):
        self.spec = spec
        self._proc: asyncio.subprocess.Process | None = None
        self.init_pid: int | None = None  # pid 1 of the box, as the host sees it

    def bwrap_argv(self, info_fd: int) -> list[str]:
        spec = self.spec
        argv = [
            tool("bwrap"),
            "--bind",
            str(spec.rootfs),
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--ro-bind",
            str(HOST_BUSYBOX),
            INIT_BIN,
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            spec.hostname,
            "--die-with-parent",
            "--info-fd",
            str(info_fd),
        ]
        for host, guest in spec.binds:
            argv += ["--bind", str(host), guest]
        if not spec.network:
            argv.append("--unshare-net")  # a fresh net namespace holds only a loopback device
        return [*argv, "--", *INIT_ARGV]

    async def start(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.bwrap_argv(write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        try:
            info = await asyncio.wait_for(_read_all(read_fd), READY_TIMEOUT)
        except asyncio.TimeoutError:
            await self.stop()
            raise SandboxError("bwrap did not report its child pid in time") from None
        finally:
            os.close(read_fd)
        if not info.strip():
            err = await self._stderr()
            await self.stop()
            raise SandboxError(f"bwrap failed: {err or 'no output'}")
        self.init_pid = int(json.loads(info)["child-pid"])
        # bwrap's pid 1 forks the init command only after the mounts and pivot_root are done,
        # so the init's appearance is the signal that the box can be entered.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while not children(self.init_pid):
            if self._proc.returncode is not None or loop.time() > deadline:
                err = await self._stderr()
                await self.stop()
                raise SandboxError(f"sandbox init did not come up: {err or 'timeout'}")
            await asyncio.sleep(0.002)

    async def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        try:
            data = await asyncio.wait_for(self._proc.stderr.read(4096), 1.0)
        except asyncio.TimeoutError:
            return ""
        return data.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def wait(self) -> None:
        """Until the sandbox is gone, for whatever reason."""
        if self._proc is not None:
            await self._proc.wait()

    async def stop(self) -> None:
        """Kill the box's pid 1 (the kernel then kills its whole pid namespace) and reap."""
        if self.init_pid is not None:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 5.0)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self.init_pid = None

    def enter_argv(
        self,
        argv: list[str],
        *,
        cwd: str,
        uid: int,
        gid: int,
        tty: bool,
    ) -> list[str]:
        """Host command line that runs `argv` inside this box.

        `setsid --ctty` makes the pty the controlling terminal (job control, SIGWINCH);
        without a tty the caller starts a new session instead. `taskset` applies the box's
        CPU share as affinity, which is what `nproc` reports. nsenter forks once to enter the
        pid namespace and then mirrors its child's exit status (a signal death re-raised on
        itself), so the exit code the runner sees is the command's own.
        """
        if self.init_pid is None:
            raise SandboxError("sandbox is not running")
        prefix = [tool("setsid"), "--ctty"] if tty else []
        return [
            *prefix,
            tool("taskset"),
            "--cpu-list",
            cpu_list(self.spec.cpus),
            tool("nsenter"),
            "--target",
            str(self.init_pid),
            "--pid",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--root",
            f"--wdns={cwd}",
            f"--setuid={uid}",
            f"--setgid={gid}",
            "--",
            *argv,
        ]


async def _read_all(fd: int) -> str:
    """Read bwrap's info JSON from a pipe without blocking the loop.

    Done at the first `}` (one JSON object) or at EOF (bwrap failed before writing it).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    chunks: list[bytes] = []
    os.set_blocking(fd, False)

    def on_readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        chunks.append(chunk)
        if (not chunk or b"}" in chunk) and not done.done():
            done.set_result(b"".join(chunks).decode(errors="replace"))

    loop.add_reader(fd, on_readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (empty when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
