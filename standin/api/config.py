"""Command line and secrets of `python -m standin api`.

Secrets come from the environment or `--env-file` (KEY=VALUE lines, the upstream
`/etc/boxlite-secrets.env` format), never from the command line, where `ps` would show them.
The API refuses to start without both keys and refuses a non-loopback host: the stand-in is a
test fixture and must never be reachable from the network.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from standin.api.lifecycle import UPSTREAM_MIN_AUTO_STOP_S
from standin.faults import ActiveFault
from standin.startcheck import ConfigError, check_loopback, check_port, side_faults

ADMIN_KEY_VAR = "ADMIN_API_KEY"
RUNNER_KEY_VAR = "DEFAULT_RUNNER_API_KEY"
HEALTH_KEY_VAR = "HEALTH_CHECK_API_KEY"

# One or more path-safe segments joined by "/": the SDK inserts the prefix verbatim into
# `/v1/{prefix}/boxes`, so a multi-segment prefix like `org-123/team-a` is legal there.
ORG_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


@dataclass(frozen=True)
class ApiConfig:
    host: str
    port: int
    runner_url: str
    state_dir: Path
    log_file: Path | None
    org_id: str | None
    faults: dict[str, ActiveFault] = field(default_factory=dict)
    # Stand-in only: the auto_stop floor (upstream 60 s), lowered so cases can use short
    # windows; reported at GET /api/v1/_standin/lifecycle (standin.api.lifecycle).
    lifecycle_floor: int = UPSTREAM_MIN_AUTO_STOP_S
    # repr=False: a config printed in a traceback or debug line must not leak the keys.
    admin_key: str = field(default="", repr=False)
    runner_key: str = field(default="", repr=False)
    # Optional: when set, only this key opens /api/health/ready (upstream HealthCheckGuard).
    health_key: str = field(default="", repr=False)


def load_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (dotenv syntax: comments, quotes, `export`); keys without value drop."""
    if not path.is_file():
        raise ConfigError(f"--env-file {path}: no such file")
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standin api",
        description="Stand-in BoxLite API in front of a stand-in runner.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port; 0 picks a free one")
    parser.add_argument("--runner-url", default="http://127.0.0.1:8080", help="runner base URL")
    parser.add_argument("--state-dir", required=True, type=Path, help="records live here")
    parser.add_argument("--log-file", type=Path, help="event log (default stderr)")
    parser.add_argument("--env-file", type=Path, help=f"KEY=VALUE file with {ADMIN_KEY_VAR} ...")
    parser.add_argument(
        "--org-id",
        help="admin org id = the SDK path_prefix (default: generated once, persisted)",
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME[=P]", help="inject a fault"
    )
    parser.add_argument(
        "--lifecycle-floor",
        type=int,
        default=UPSTREAM_MIN_AUTO_STOP_S,
        metavar="SECONDS",
        help="stand-in only: smallest non-zero auto_stop (upstream: 60); timers tick at floor/6",
    )
    return parser


def resolve(argv: list[str], environ: Mapping[str, str] | None = None) -> ApiConfig:
    """Parse argv and resolve secrets; raises ConfigError (argparse exits on bad syntax)."""
    args = build_parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    check_loopback(args.host, "api")
    check_port(args.port)
    if args.org_id is not None and not ORG_ID_RE.match(args.org_id):
        raise ConfigError(f"--org-id {args.org_id!r}: use [A-Za-z0-9_.-] segments joined by /")
    # The env file gives defaults; the process environment wins (dotenv semantics).
    values = load_env_file(args.env_file) if args.env_file else {}
    wanted = (ADMIN_KEY_VAR, RUNNER_KEY_VAR, HEALTH_KEY_VAR)
    values.update({k: v for k, v in environ.items() if k in wanted})
    missing = [k for k in (ADMIN_KEY_VAR, RUNNER_KEY_VAR) if not values.get(k)]
    if missing:
        raise ConfigError(f"missing secret(s) {', '.join(missing)}: set them in env or --env-file")
    faults = side_faults(args.fault, "api")
    if not 1 <= args.lifecycle_floor <= UPSTREAM_MIN_AUTO_STOP_S:
        raise ConfigError(
            f"--lifecycle-floor {args.lifecycle_floor}: expected 1..{UPSTREAM_MIN_AUTO_STOP_S}"
        )
    return ApiConfig(
        host=args.host,
        port=args.port,
        runner_url=args.runner_url.rstrip("/"),
        state_dir=args.state_dir,
        log_file=args.log_file,
        org_id=args.org_id,
        faults=faults,
        lifecycle_floor=args.lifecycle_floor,
        admin_key=values[ADMIN_KEY_VAR],
        runner_key=values[RUNNER_KEY_VAR],
        health_key=values.get(HEALTH_KEY_VAR, ""),
    )
