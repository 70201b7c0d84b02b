"""Run the stack's long-lived processes the same way under systemd and under supervisor.

Why this exists: on KVM hosts and GitHub runners systemd is PID 1 and the stack runs as units
(the runner's log is its journal); in containers and CI sandboxes it is not, and Debian's
`supervisor` runs the same programs under the same names (`boxlite-api`, `boxlite-runner`,
`boxlite-registry`, `boxlite-postgres`, `boxlite-redis`), logging to files under the layout's
log dir. Callers describe a `Service` once; `manager_for(layout)` picks the backend.

systemd is used only when it is PID 1 *and* the layout root is `/` (systemd reads units from
`/etc/systemd/system` only), so a stack in a temporary root always gets its own supervisord,
with its config, socket and pid file under that root: two stacks never share a manager.

`sync()` is idempotent: it rewrites a service's config only when the text differs, restarts
only what changed, starts what is stopped, and reports one action per service.

Command line (also what `two_sided.sh` uses to swap a component):
    python -m lib.stack.services {start|stop|restart|status} NAME...
    python -m lib.stack.services list
"""

from __future__ import annotations

import http.client
import os
import shlex
import socket
import subprocess
import sys
import time
import xmlrpc.client
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lib import processes
from lib.errors import HarnessError
from lib.layout import Layout
from lib.names import REPO_ROOT, SERVICE_COMMAND_TIMEOUT_S
from standin import atomicfile

PREFIX = "boxlite-"
SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux


class ServiceError(HarnessError):
    """A service manager command failed; the message carries its output."""


@dataclass(frozen=True)
class Service:
    """One long-running stack process, as systemd and supervisor both render it; secrets only
    through `env_file`."""

    name: str
    argv: tuple[str, ...]
    description: str
    env: Mapping[str, str] = field(default_factory=dict)  # non-secret settings only
    env_file: Path | None = None  # secrets: EnvironmentFile= / `lib.stack.envfile exec`
    user: str | None = None
    workdir: Path | None = None
    log_file: Path | None = None  # None under systemd: the journal
    after: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.startswith(PREFIX):
            raise ValueError(f"service names start with {PREFIX!r}: {self.name!r}")


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return processes.run(argv, check=check, timeout=SERVICE_COMMAND_TIMEOUT_S, error=ServiceError)


class ServiceManager(ABC):
    """Installs, starts and inspects the stack's services; one implementation per init system
    (systemd, or a harness-owned supervisord)."""

    kind: str

    def __init__(self, layout: Layout):
        self.layout = layout

    @abstractmethod
    def config_path(self, name: str) -> Path:
        """Where `name`'s unit or program file lives."""

    @abstractmethod
    def render(self, svc: Service) -> str:
        """The config text for `svc` (compared byte for byte to decide a restart)."""

    @abstractmethod
    def status(self, name: str) -> str:
        """`running`, `stopped`, `failed`, `starting` or `absent`."""

    @abstractmethod
    def start(self, name: str) -> None:
        """Start `name`; ServiceError when the manager refuses."""

    @abstractmethod
    def stop(self, name: str) -> None:
        """Stop `name` if it runs; a stopped or absent service is no error."""

    @abstractmethod
    def restart(self, name: str) -> None:
        """Stop then start `name` on its current config."""

    def reload(self, name: str) -> None:
        """Re-read `name`'s (rewritten) config and restart it on that config."""
        self._apply([name], [name])

    @abstractmethod
    def _apply(self, written: list[str], changed: list[str]) -> None:
        """Make the manager see the written configs; restart those in `changed`."""

    @abstractmethod
    def remove(self, names: Iterable[str]) -> list[str]:
        """Stop and delete the named services; return those that existed."""

    def pid(self, name: str) -> int | None:
        """Main pid of `name` when running; None when unknown (the default: the manager cannot
        tell)."""
        return None

    def installed(self) -> list[str]:
        """Names of this layout's installed services (their config files), sorted."""
        directory = self.config_path("x").parent
        if not directory.is_dir():
            return []
        suffix = self.config_path("x").suffix
        return sorted(p.stem for p in directory.glob(f"{PREFIX}*{suffix}"))

    def plan(self, services: Iterable[Service]) -> dict[str, str]:
        """What `sync` would do, without doing it."""
        actions = {}
        for svc in services:
            path = self.config_path(svc.name)
            if not path.is_file():
                actions[svc.name] = "install and start"
            elif path.read_text() != self.render(svc):
                actions[svc.name] = "rewrite config and restart"
            elif self.status(svc.name) != "running":
                actions[svc.name] = "start"
            else:
                actions[svc.name] = "unchanged"
        return actions

    def sync(self, services: Iterable[Service]) -> dict[str, str]:
        """Write configs, restart what changed, start what is stopped; report per service."""
        services = list(services)
        existed = {s.name: self.config_path(s.name).is_file() for s in services}
        changed = [
            s.name
            for s in services
            if atomicfile.write_if_changed(self.config_path(s.name), self.render(s))
        ]
        self._apply([s.name for s in services], [n for n in changed if existed[n]])
        actions = {}
        for svc in services:
            if not existed[svc.name]:
                actions[svc.name] = "installed"
            elif svc.name in changed:
                actions[svc.name] = "restarted (config changed)"
            else:
                actions[svc.name] = "unchanged"
            if self.status(svc.name) not in ("running", "starting"):
                self.start(svc.name)
                if actions[svc.name] == "unchanged":
                    actions[svc.name] = "started (was stopped)"
        return actions


# ---------------------------------------------------------------------------------------------
# supervisor


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path):
        super().__init__("localhost", timeout=SERVICE_COMMAND_TIMEOUT_S)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(SERVICE_COMMAND_TIMEOUT_S)
        self.sock.connect(self._path)


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's unix socket: milliseconds per call where each
    `supervisorctl` run costs a Python start-up (~0.3 s)."""

    def __init__(self, path: Path):
        super().__init__()
        self._path = path

    def make_connection(self, host):  # noqa: ANN001 - signature of the stdlib base
        return _UnixHTTPConnection(self._path)


class SupervisorManager(ServiceManager):
    """A harness-owned supervisord per layout root (never the system-wide one)."""

    kind = "supervisor"

    @property
    def conf(self) -> Path:
        """The daemon's own supervisord.conf."""
        return self.layout.config_dir / "supervisord.conf"

    @property
    def programs_dir(self) -> Path:
        """One `[program:...]` file per service."""
        return self.layout.config_dir / "supervisor.d"

    @property
    def socket(self) -> Path:
        """The root-only control socket (no TCP control port)."""
        return self.layout.run_dir / "supervisor.sock"

    def config_path(self, name: str) -> Path:
        """supervisor: `<config>/supervisor.d/<name>.conf`."""
        return self.programs_dir / f"{name}.conf"

    def render_main(self) -> str:
        """The daemon's own config: unix socket 0700, logs and pid file in this layout, includes
        `supervisor.d/`."""
        run, logs = self.layout.run_dir, self.layout.log_dir
        return "\n".join(
            [
                "; Written by boxlite-e2e bootstrap (lib/stack/services.py); regenerated each run.",
                "[unix_http_server]",
                f"file={self.socket}",
                "chmod=0700",  # root-only control socket: no TCP control port at all
                "[supervisord]",
                f"logfile={logs / 'boxlite-supervisord.log'}",
                f"pidfile={run / 'supervisord.pid'}",
                f"childlogdir={logs}",
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "[supervisorctl]",
                f"serverurl=unix://{self.socket}",
                "[include]",
                f"files = {self.programs_dir}/*.conf",
                "",
            ]
        )

    def render(self, svc: Service) -> str:
        """supervisor: a `[program:...]` section; secrets come in through `lib.stack.envfile
        exec`, `%` doubled."""
        argv = list(svc.argv)
        if svc.env_file:
            argv = [
                sys.executable,
                "-m",
                "lib.stack.envfile",
                "exec",
                str(svc.env_file),
                "--",
                *argv,
            ]
        log = svc.log_file or self.layout.log_dir / f"{svc.name}.log"
        # supervisor expands %(...)s in values, so a literal % must be doubled.
        esc = lambda s: str(s).replace("%", "%%")  # noqa: E731
        env = dict(svc.env)
        if svc.env_file:
            # `lib.stack.envfile exec` must import `lib` from this checkout.
            env.setdefault("PYTHONPATH", str(REPO_ROOT))
        lines = [
            f"; {svc.description}",
            f"[program:{svc.name}]",
            f"command={esc(shlex.join(argv))}",
            f"directory={esc(svc.workdir or '/')}",
            "autostart=true",
            "autorestart=true",
            # Readiness is judged by real health probes, not by supervisor's start timer.
            "startsecs=0",
            "stopwaitsecs=60",  # as TimeoutStopSec (upstream runner unit: 60)
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={esc(log)}",
            "stdout_logfile_maxbytes=0",  # append, never rotate: path checks read by offset
        ]
        if svc.user:
            lines.append(f"user={svc.user}")
        if env:
            pairs = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(env.items()))
            lines.append(f"environment={pairs}")
        return "\n".join(lines) + "\n"

    def _rpc(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy("http://supervisor", transport=_UnixTransport(self.socket))

    def daemon_running(self) -> bool:
        """True when our supervisord answers on its socket (a stale socket is False)."""
        if not self.socket.exists():
            return False
        try:
            return self._rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False  # a stale socket of a dead supervisord

    def ensure_daemon(self, deadline: float = 30.0) -> None:
        """Start our supervisord (restart it when its own config changed) and wait until it
        answers, bounded by `deadline`."""
        if len(os.fsencode(self.socket)) > SUN_PATH_MAX:
            raise ServiceError(
                f"supervisor socket path {self.socket} is longer than the {SUN_PATH_MAX} bytes "
                "a unix socket allows: use a shorter BOXLITE_E2E_ROOT"
            )
        for d in (self.layout.run_dir, self.layout.log_dir, self.programs_dir):
            d.mkdir(parents=True, exist_ok=True)
        main_changed = atomicfile.write_if_changed(self.conf, self.render_main())
        if self.daemon_running():
            if not main_changed:
                return
            self._shutdown()  # rare: only when this module changes the daemon's own config
        _run(["supervisord", "-c", str(self.conf)])
        end = time.monotonic() + deadline
        while not self.daemon_running():
            if time.monotonic() > end:
                raise ServiceError(f"supervisord did not answer on {self.socket}")
            time.sleep(0.05)

    def _info(self, name: str) -> dict | None:
        try:
            return self._rpc().supervisor.getProcessInfo(name)
        except xmlrpc.client.Fault:
            return None  # BAD_NAME: not loaded into the daemon

    def _apply(self, written: list[str], changed: list[str]) -> None:
        self.ensure_daemon()
        if not changed and all(self._info(n) is not None for n in written):
            return  # nothing new for the daemon: skip the config reload
        self._update()

    def _update(self) -> None:
        """supervisorctl's `update`: load added groups, re-add changed ones, drop removed."""
        rpc = self._rpc().supervisor
        added, changed, removed = rpc.reloadConfig()[0]
        for name in removed + changed:
            rpc.stopProcessGroup(name, True)
            rpc.removeProcessGroup(name)
        for name in changed + added:
            rpc.addProcessGroup(name)  # autostart=true starts it

    def status(self, name: str) -> str:
        """supervisor: from the program's state over XML-RPC; BACKOFF and FATAL are `failed`."""
        if not self.config_path(name).is_file():
            return "absent"
        info = self._info(name) if self.daemon_running() else None
        if info is None:
            return "stopped"
        return {
            "RUNNING": "running",
            "STARTING": "starting",
            "BACKOFF": "failed",
            "FATAL": "failed",
        }.get(info["statename"], "stopped")

    def pid(self, name: str) -> int | None:
        """supervisor: the program's pid over XML-RPC, None when not running."""
        info = self._info(name) if self.daemon_running() else None
        return info["pid"] or None if info else None

    def daemon_pid(self) -> int | None:
        """Pid of our supervisord, None when it is not running."""
        return self._rpc().supervisor.getPID() if self.daemon_running() else None

    def start(self, name: str) -> None:
        """supervisor: start the daemon if needed, load the program, `startProcess` and wait;
        already running is no error."""
        self.ensure_daemon()
        if self._info(name) is None:
            self._update()
        try:
            self._rpc().supervisor.startProcess(name, True)
        except xmlrpc.client.Fault as exc:
            if "ALREADY_STARTED" not in exc.faultString:
                raise ServiceError(f"cannot start {name}: {exc.faultString}") from None

    def stop(self, name: str) -> None:
        """supervisor: `stopProcess` and wait; not loaded or not running is no error."""
        if self.daemon_running() and self._info(name) is not None:
            try:
                self._rpc().supervisor.stopProcess(name, True)
            except xmlrpc.client.Fault as exc:
                if "NOT_RUNNING" not in exc.faultString:
                    raise ServiceError(f"cannot stop {name}: {exc.faultString}") from None

    def restart(self, name: str) -> None:
        """supervisor: stop, then start."""
        self.stop(name)
        self.start(name)

    def remove(self, names: Iterable[str]) -> list[str]:
        """supervisor: stop and delete the program files, then drop them from the running daemon."""
        removed = []
        for name in names:
            path = self.config_path(name)
            if path.is_file():
                self.stop(name)
                path.unlink()
                removed.append(name)
        if removed and self.daemon_running():
            self._update()  # drops the removed programs from the running daemon
        return removed

    def _shutdown(self, deadline: float = 30.0) -> None:
        pid = self.daemon_pid()
        self._rpc().supervisor.shutdown()
        end = time.monotonic() + deadline
        while pid is not None and processes.pid_alive(pid):
            if time.monotonic() > end:
                raise ServiceError(f"supervisord did not shut down within {deadline:.0f}s")
            time.sleep(0.05)

    def shutdown_daemon(self) -> None:
        """Stop our supervisord (a failed bootstrap's rollback, when it started it)."""
        self._shutdown()

    def shutdown_if_idle(self) -> bool:
        """Stop our supervisord and drop its config once no program is left."""
        if self.installed():
            return False
        was_running = self.daemon_running()
        if was_running:
            self._shutdown()
        for path in (self.conf, self.socket, self.layout.run_dir / "supervisord.pid"):
            path.unlink(missing_ok=True)
        if self.programs_dir.is_dir() and not any(self.programs_dir.iterdir()):
            self.programs_dir.rmdir()
        return was_running


# ---------------------------------------------------------------------------------------------
# systemd


def _systemd_quote(arg: str) -> str:
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


class SystemdManager(ServiceManager):
    """Units under the layout's unit dir, driven with systemctl (the real host, where systemd is
    PID 1 and the root is `/`)."""

    kind = "systemd"

    def config_path(self, name: str) -> Path:
        """systemd: `<unit dir>/<name>.service`."""
        return self.layout.unit_dir / f"{name}.service"

    def render(self, svc: Service) -> str:
        """systemd: a unit with EnvironmentFile= for secrets, Restart=on-failure, the journal
        unless a log file is set."""
        after = " ".join(["network.target", *(f"{a}.service" for a in svc.after)])
        lines = [
            "# Written by boxlite-e2e bootstrap (lib/stack/services.py); regenerated every run.",
            "[Unit]",
            f"Description={svc.description}",
            f"After={after}",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={' '.join(_systemd_quote(a) for a in svc.argv)}",
            "Restart=on-failure",
            "RestartSec=2",
            "TimeoutStopSec=60",  # upstream's runner unit: it needs up to 30 s + 5 s to stop boxes
            f"SyslogIdentifier={svc.name}",
        ]
        if svc.workdir:
            lines.append(f"WorkingDirectory={svc.workdir}")
        if svc.user:
            lines.append(f"User={svc.user}")
        if svc.env_file:
            lines.append(f"EnvironmentFile={svc.env_file}")
        lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(svc.env.items())]
        if svc.log_file:
            lines += [f"StandardOutput=append:{svc.log_file}", "StandardError=inherit"]
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        return "\n".join(lines)

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["systemctl", *args], check=check)

    def _apply(self, written: list[str], changed: list[str]) -> None:
        self._ctl("daemon-reload")
        self._ctl("enable", "--quiet", *written)
        for name in changed:
            self._ctl("restart", name)

    def status(self, name: str) -> str:
        """systemd: from `systemctl is-active` (activating is `starting`)."""
        if not self.config_path(name).is_file():
            return "absent"
        state = self._ctl("is-active", name, check=False).stdout.strip()
        return {"active": "running", "activating": "starting", "failed": "failed"}.get(
            state, "stopped"
        )

    def pid(self, name: str) -> int | None:
        """systemd: the unit's MainPID, None when 0."""
        out = self._ctl("show", "-p", "MainPID", "--value", name, check=False).stdout.strip()
        return int(out) if out.isdigit() and out != "0" else None

    def start(self, name: str) -> None:
        """systemd: `systemctl start`."""
        self._ctl("start", name)

    def stop(self, name: str) -> None:
        """systemd: `systemctl stop` (waits for the unit to stop); skipped when no unit file
        exists."""
        if self.config_path(name).is_file():
            self._ctl("stop", name, check=False)

    def restart(self, name: str) -> None:
        """systemd: `systemctl restart`."""
        self._ctl("restart", name)

    def remove(self, names: Iterable[str]) -> list[str]:
        """systemd: `disable --now` and delete each unit file, then daemon-reload."""
        removed = []
        for name in names:
            path = self.config_path(name)
            if path.is_file():
                self._ctl("disable", "--now", "--quiet", name, check=False)
                path.unlink()
                removed.append(name)
        if removed:
            self._ctl("daemon-reload")
        return removed


def systemd_is_pid1() -> bool:
    """sd_booted(): systemd creates /run/systemd/system only when it is the init system."""
    return Path("/run/systemd/system").is_dir()


def manager_for(layout: Layout, env: Mapping[str, str] | None = None) -> ServiceManager:
    """systemd when it is PID 1 and the root is `/`; else supervisor. BOXLITE_E2E_SERVICES
    (`systemd`|`supervisor`) overrides."""
    env = os.environ if env is None else env
    forced = env.get("BOXLITE_E2E_SERVICES", "").strip()
    if forced not in ("", "systemd", "supervisor"):
        raise ServiceError(f"BOXLITE_E2E_SERVICES={forced!r}: expected systemd or supervisor")
    use_systemd = forced == "systemd" or (
        not forced and systemd_is_pid1() and layout.root == Path("/")
    )
    return SystemdManager(layout) if use_systemd else SupervisorManager(layout)


def main(argv: list[str]) -> int:
    """CLI `python -m lib.stack.services`: start, stop, restart, status or list; status exits 3
    when a service is not running."""
    usage = "usage: python -m lib.stack.services {start|stop|restart|status} NAME... | list"
    if not argv or argv[0] not in {"start", "stop", "restart", "status", "list"}:
        print(usage, file=sys.stderr)
        return 2
    manager = manager_for(Layout.from_env())
    command, names = argv[0], argv[1:]
    if command == "list":
        names = manager.installed()
    elif not names:
        print(usage, file=sys.stderr)
        return 2
    rc = 0
    try:
        for name in names:
            if command == "list" or command == "status":
                state = manager.status(name)
                print(f"{name} {state} ({manager.kind})")
                rc = rc or (0 if state == "running" else 3)
            elif manager.status(name) == "absent":
                print(f"{name}: not installed ({manager.kind})", file=sys.stderr)
                rc = 1
            else:
                getattr(manager, command)(name)
                print(f"{name} {command}: {manager.status(name)}")
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
