"""Undo what a failed bootstrap started, or say exactly what it left running.

A bootstrap that failed half-way (a port taken by another program, a build error) used to
leave supervisord and the registry running: the next attempt then met its own leftovers,
and nothing said they were there. `Snapshot.take` records, before the first step, which
of the stack's services run and whether our supervisord does; after a failed step,
`undo` stops each service that this invocation brought up (running now, not before), and
our supervisord when this invocation started it and nothing of ours runs under it any
more. Services that ran before are left alone (they were the user's stack, and a failed
refresh must not take it down); the report names them and how to stop them.

Files (configs, env files, secrets, state) stay: they are inert, and the next bootstrap
reuses them; `./teardown.sh` removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.stack.services import ServiceError, ServiceManager

STOP_HINT = "./teardown.sh (with the same BOXLITE_E2E_ROOT and ports)"


@dataclass
class Snapshot:
    """What ran before this bootstrap: services of ours, and our supervisord."""

    running: set[str] = field(default_factory=set)
    daemon: bool | None = None  # None: the manager has no daemon of ours (systemd)

    @classmethod
    def take(cls, manager: ServiceManager) -> Snapshot:
        """Record what runs now."""
        return cls(_running(manager), _daemon(manager))


def _running(manager: ServiceManager) -> set[str]:
    found = set()
    for name in manager.installed():
        try:
            if manager.status(name) in ("running", "starting"):
                found.add(name)
        except (ServiceError, OSError):
            continue
    return found


def _daemon(manager: ServiceManager) -> bool | None:
    probe = getattr(manager, "daemon_running", None)
    return bool(probe()) if probe is not None else None


def undo(manager: ServiceManager, before: Snapshot) -> list[str]:
    """Stop what this invocation started; return one line per thing done or left."""
    lines = []
    started = sorted(_running(manager) - before.running)
    for name in started:
        try:
            manager.stop(name)
            lines.append(f"stopped {name} (this bootstrap started it)")
        except ServiceError as exc:
            lines.append(f"could not stop {name}: {exc}; stop it with {STOP_HINT}")
    if before.daemon is False and _daemon(manager) and not _running(manager):
        try:
            manager.shutdown_daemon()  # type: ignore[attr-defined]
            lines.append("stopped supervisord (this bootstrap started it)")
        except (ServiceError, OSError) as exc:
            lines.append(f"could not stop supervisord: {exc}; stop it with {STOP_HINT}")
    still = sorted(_running(manager))
    if still:
        lines.append(
            f"still running (already running before this bootstrap): {', '.join(still)}; "
            f"stop with {STOP_HINT}"
        )
    elif _daemon(manager):
        lines.append(f"supervisord still running (it ran before); stop with {STOP_HINT}")
    if not lines:
        lines.append("nothing was left running")
    return lines
