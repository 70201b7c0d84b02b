"""Start-up refusals shared by `python -m standin runner` and `python -m standin api`.

Both sides refuse a non-loopback `--host` (the stand-in is a test fixture and must never be
reachable from the network), a `--port` outside 0..65535, an unknown `--fault`, and a fault
of the other side (it would be silently inert there). Each side's `config.py` keeps what is
its own: its flags, and where its secrets come from and in which order.
"""

from __future__ import annotations

import ipaddress

from standin.faults import ActiveFault, FaultError, parse_faults

# How a message names each side (the keys are `FaultSpec.side`).
SIDE_NAMES = {"runner": "runner", "api": "API"}


class ConfigError(ValueError):
    """A command line, secret or host problem that stops start-up with a clear message."""


def check_loopback(host: str, side: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(
            f"refusing to bind {host!r}: the stand-in {SIDE_NAMES[side]} binds loopback only"
        )


def check_port(port: int) -> None:
    if not 0 <= port < 65536:
        raise ConfigError(f"--port {port} is out of range 0..65535")


def side_faults(values: list[str], side: str) -> dict[str, ActiveFault]:
    """Parse repeated `--fault` values, refusing unknown faults and the other side's."""
    try:
        faults = parse_faults(values)
    except FaultError as exc:
        raise ConfigError(str(exc)) from None
    # The other side's fault would be silently inert here; say so instead.
    foreign = sorted(name for name, f in faults.items() if f.spec.side != side)
    if foreign:
        (other,) = set(SIDE_NAMES) - {side}
        raise ConfigError(
            f"fault(s) {', '.join(foreign)} belong to the {SIDE_NAMES[other]}, "
            f"not the {SIDE_NAMES[side]}"
        )
    return faults
