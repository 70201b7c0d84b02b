"""A box's user-mode network: its egress firewall, then slirp4netns attached to its netns.

Why slirp4netns (Debian `slirp4netns`) and not pasta (Debian `passt`): both give a network
namespace a user-mode NAT to the host like gvproxy gives a BoxLite guest, but slirp4netns
has what a test fixture needs and bookworm's pasta lacks: `--ready-fd` (an event, not a
poll, says the link is up), `--exit-fd` (it ends when the runner closes the pipe or dies, so
a killed runner leaves no network helper behind), a fixed private subnet (10.0.2.0/24, not
the host's addresses copied into the box) with its gateway as the one door to the host's
loopback (`--disable-host-loopback` would shut it; the firewall narrows it to the alias
instead), no automatic port forwarding of box listeners onto the host, and its own
`--enable-sandbox`/`--enable-seccomp` confinement. pasta 2023-03 forwards ports by default,
copies host addressing and logs to syslog.

The firewall (netpolicy.py) is loaded before slirp4netns attaches, so no packet ever leaves
the box unfiltered. Both run as the host's root against `/proc/<box pid 1>/ns/net`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil

READY_TIMEOUT = 10.0


class NetworkError(RuntimeError):
    """The box's network could not be set up; the message says why."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NetworkError(f"{name} is not installed (see scripts/setup-host.sh)")
    return path


async def load_firewall(pid: int, rules: str) -> None:
    """iptables-restore `rules` into the network namespace of `pid`."""
    proc = await asyncio.create_subprocess_exec(
        _tool("nsenter"),
        f"--net=/proc/{pid}/ns/net",
        "--",
        _tool("iptables-restore"),
        "--noflush",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(rules.encode()), READY_TIMEOUT)
    if proc.returncode != 0:
        raise NetworkError(f"loading the box firewall failed: {err.decode().strip()}")


class UserNet:
    """slirp4netns for one box; `start()` returns once the box's tap0 is configured."""

    def __init__(self, pid: int):
        self.pid = pid
        self._proc: asyncio.subprocess.Process | None = None
        self._exit_w: int | None = None

    async def start(self) -> None:
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        os.set_inheritable(self._exit_w, False)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                _tool("slirp4netns"),
                "--configure",
                "--mtu=65520",
                f"--ready-fd={ready_w}",
                f"--exit-fd={exit_r}",
                "--enable-sandbox",
                "--enable-seccomp",
                str(self.pid),
                "tap0",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(ready_w, exit_r),
                start_new_session=True,
            )
        finally:
            os.close(ready_w)
            os.close(exit_r)
        try:
            ready = await asyncio.wait_for(_read_byte(ready_r), READY_TIMEOUT)
        except asyncio.TimeoutError:
            ready = b""
        finally:
            os.close(ready_r)
        if ready != b"1":
            err = await self._stderr()
            await self.stop()
            raise NetworkError(f"slirp4netns did not come up: {err or 'no ready signal'}")

    async def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(self._proc.stderr.read(4096), 1.0)
            return data.decode(errors="replace").strip()
        return ""

    async def stop(self) -> None:
        """Close the exit pipe (slirp4netns ends on it) and reap; KILL if it lingers."""
        if self._exit_w is not None:
            os.close(self._exit_w)
            self._exit_w = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def _read_byte(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    os.set_blocking(fd, False)

    def on_readable() -> None:
        try:
            data = os.read(fd, 1)
        except BlockingIOError:
            return
        if not done.done():
            done.set_result(data)

    loop.add_reader(fd, on_readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)
