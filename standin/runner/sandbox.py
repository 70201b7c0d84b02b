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

Privilege (issue 12): the box's root is root of its own user namespace only (boxns.py): host
uids BASE..BASE+65535, a range per running box, so outside the box its processes are an
unprivileged uid that owns nothing on the host. Inside, every exec gets a Docker-style
reduced capability set (BOX_CAPS, close to what BoxLite's guest gives a non-privileged
container): no CAP_SYS_ADMIN (no mounts), no CAP_NET_ADMIN (the egress firewall stays as
loaded), no CAP_SYS_PTRACE/SYS_MODULE/SYS_TIME... A setns into a user namespace hands the
caller a full capability set, so the drop must happen inside: execs run util-linux's
`setpriv`, bound read-only with its loader and libraries under `/dev/.standin/` and started
through the loader, so it works over any image, libc or none.

Network (issue 14): every box has its own network namespace. `network: disabled` leaves it
with a loopback device only; enabled boxes get slirp4netns and the allow_net firewall
(boxnet.py, netpolicy.py). The host's loopback is never the box's `127.0.0.1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from standin.runner import boxns, netpolicy
from standin.runner.boxnet import NetworkError, UserNet, load_firewall

# The init keeps the namespaces alive and does nothing else. It is the host's static busybox
# bound on bwrap's private /dev, so it works for any image and never writes into the rootfs.
HOST_BUSYBOX = Path("/bin/busybox")
INIT_BIN = "/dev/.standin/sleep"
INIT_ARGV = [INIT_BIN, "2147483647"]
READY_TIMEOUT = 10.0
KIT = "/dev/.standin"  # host tools bound read-only into every box (what remains shared)
# Docker's default set, which BoxLite's guest also gives a container that is not privileged.
BOX_CAPS = (
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "net_raw",
    "sys_chroot",
    "mknod",
    "audit_write",
    "setfcap",
)
# Host id ranges of box user namespaces: far above any account or /etc/subuid range.
UID_BASE = 1 << 22
UID_SLOTS = 4096
_slots_in_use: set[int] = set()


class SandboxError(RuntimeError):
    """The sandbox could not be started; the message says why."""


@dataclass(frozen=True)
class SandboxSpec:
    rootfs: Path
    hostname: str
    network: bool
    cpus: tuple[int, ...]
    allow_net: tuple[str, ...] = ()
    # Fault allow-net-alias-exempt (#1106): the host alias bypasses a restrictive allow_net.
    alias_exempt: bool = False
    # Fault default-caps-all (#597's "default all open"): execs keep every capability.
    all_caps: bool = False
    # Host directories bound into the box (volumes): idmapped like the rootfs.
    binds: tuple[tuple[Path, str], ...] = field(default_factory=tuple)


def _take_slot() -> int:
    slot = next((i for i in range(UID_SLOTS) if i not in _slots_in_use), None)
    if slot is None:
        raise SandboxError(f"more than {UID_SLOTS} running boxes")
    _slots_in_use.add(slot)
    return slot


@cache
def setpriv_kit() -> tuple[str, tuple[tuple[str, str], ...]]:
    """(host loader, ((host library, its name), ...)) that run the host's setpriv."""
    setpriv = tool("setpriv")
    out = subprocess.run(["ldd", setpriv], capture_output=True, text=True, check=False).stdout
    loader, libs = None, []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append((parts[2], parts[0]))
        elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
            loader = parts[0]
    if loader is None:
        raise SandboxError(f"cannot find the dynamic loader of {setpriv} (ldd said: {out!r})")
    return loader, tuple(libs)


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
        self._net: UserNet | None = None
        self._slot: int | None = None
        self.init_pid: int | None = None  # pid 1 of the box, as the host sees it

    @property
    def uid_base(self) -> int | None:
        """Host uid of the box's root while it runs (None when stopped)."""
        return None if self._slot is None else UID_BASE + self._slot * boxns.ID_COUNT

    def bwrap_argv(self, info_fd: int) -> list[str]:
        spec = self.spec
        loader, libs = setpriv_kit()
        kit = ["--ro-bind", loader, f"{KIT}/ld.so", "--ro-bind", tool("setpriv"), f"{KIT}/setpriv"]
        for path, name in libs:
            kit += ["--ro-bind", path, f"{KIT}/lib/{name}"]
        binds = []
        for host, guest in spec.binds:
            binds += ["--bind", str(host), guest]
        argv = [
            sys.executable,
            boxns.__file__,
            "--base",
            str(self.uid_base),
            "--idmap",
            str(spec.rootfs),
            *(x for host, _ in spec.binds for x in ("--idmap", str(host))),
            "--",
            tool("bwrap"),
            "--bind",
            str(spec.rootfs),
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            *binds,
            "--ro-bind",
            str(HOST_BUSYBOX),
            INIT_BIN,
            *kit,
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            # Always a net namespace of its own: loopback only, plus slirp4netns when enabled.
            "--unshare-net",
            "--hostname",
            spec.hostname,
            "--cap-drop",
            "ALL",  # the init only sleeps; execs get BOX_CAPS (enter_argv)
            "--die-with-parent",
            "--info-fd",
            str(info_fd),
        ]
        return [*argv, "--", *INIT_ARGV]

    def _write_etc(self) -> None:
        """/etc/hosts (with the host alias) and, when networked, /etc/resolv.conf, as a
        guest's init writes them; the runner writes as the host, the idmap shows them as
        root's files."""
        etc = self.spec.rootfs / "etc"
        if etc.is_symlink() or not etc.is_dir():
            return  # never write through a link the image (or the box) planted
        for name, text in (
            ("hosts", netpolicy.etc_hosts(self.spec.hostname)),
            ("resolv.conf", f"nameserver {netpolicy.SLIRP_DNS}\n" if self.spec.network else None),
        ):
            target = etc / name
            if text is None or target.is_symlink():
                continue
            with contextlib.suppress(OSError):
                target.write_text(text)

    async def start(self) -> None:
        self._slot = _take_slot()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._write_etc()
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
        if self.spec.network:
            rules = netpolicy.ruleset(
                list(self.spec.allow_net), alias_exempt=self.spec.alias_exempt
            )
            try:
                await load_firewall(self.init_pid, rules)
                self._net = UserNet(self.init_pid)
                await self._net.start()
            except NetworkError as exc:
                raise SandboxError(str(exc)) from None

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
        """Until the sandbox is gone, for whatever reason (its network helper goes too)."""
        if self._proc is not None:
            await self._proc.wait()
        await self._release()

    async def _release(self) -> None:
        net, self._net = self._net, None
        if net is not None:
            await net.stop()
        if self._slot is not None and (self._proc is None or self._proc.returncode is not None):
            _slots_in_use.discard(self._slot)
            self._slot = None

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
        await self._release()
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
        CPU share as affinity, which is what `nproc` reports. nsenter joins the box's user
        namespace first (as its root), forks once to enter the pid namespace and then mirrors
        its child's exit status (a signal death re-raised on itself), so the exit code the
        runner sees is the command's own. Inside, setpriv switches to the exec's user and
        leaves it BOX_CAPS at most (none for a non-root user), then execs the command.
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
            "--user",
            "--pid",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--root",
            f"--wdns={cwd}",
            "--",
            f"{KIT}/ld.so",
            "--library-path",
            f"{KIT}/lib",
            f"{KIT}/setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--bounding-set="
            + ("+all" if self.spec.all_caps else "-all," + ",".join(f"+{c}" for c in BOX_CAPS)),
            "--inh-caps=-all",
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
