"""Command line and secrets of `python -m standin runner`, and the start-up refusals.

The bearer token comes from the environment (`DEFAULT_RUNNER_API_KEY`, the upstream env-file
name) or from `--env-file`, never from the command line, where `ps` would show it. The runner
refuses to start without a token, with a non-loopback `--host` (it is a test fixture and runs
boxes as root: it must never be reachable from the network), or with an unknown `--fault`.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from standin.faults import ActiveFault
from standin.startcheck import ConfigError, check_loopback, check_port, side_faults

TOKEN_VAR = "DEFAULT_RUNNER_API_KEY"
# Host tools a box needs; checked at start-up so a missing package is one clear message.
REQUIRED_TOOLS = (
    "bwrap",
    "nsenter",
    "setsid",
    "taskset",
    "cp",
    "setpriv",
    "slirp4netns",
    "iptables-restore",
)


@dataclass(frozen=True)
class RunnerConfig:
    host: str
    port: int
    state_dir: Path
    registry: str
    log_file: Path | None = None
    image_dirs: dict[str, Path] = field(default_factory=dict)
    faults: dict[str, ActiveFault] = field(default_factory=dict)
    kill_grace: float = 2.0
    # repr=False: a config printed in a traceback or a debug line must not leak the token.
    token: str = field(default="", repr=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standin runner",
        description="Stand-in BoxLite runner: the box protocol over bubblewrap sandboxes.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="boxes, image cache and records live here",
    )
    parser.add_argument(
        "--registry", default="127.0.0.1:5000", help="registry for refs without a host"
    )
    parser.add_argument("--log-file", type=Path, help="event log (default stderr)")
    parser.add_argument("--env-file", type=Path, help=f"KEY=VALUE file holding {TOKEN_VAR}")
    parser.add_argument(
        "--image-dir",
        action="append",
        default=[],
        metavar="REF=PATH",
        help="serve image REF from a local rootfs directory instead of the registry",
    )
    parser.add_argument(
        "--kill-grace",
        type=float,
        default=2.0,
        help="seconds between TERM and KILL when an exec times out (default 2)",
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME[=P]", help="inject a fault"
    )
    return parser


def parse_image_dirs(values: list[str]) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for value in values:
        ref, sep, path = value.partition("=")
        if not sep or not ref or not path:
            raise ConfigError(f"--image-dir {value!r}: expected REF=PATH")
        if not Path(path).is_dir():
            raise ConfigError(f"--image-dir {ref}: {path} is not a directory")
        dirs[ref] = Path(path).resolve()
    return dirs


def load_token(env_file: Path | None, environ: Mapping[str, str]) -> str:
    """The token from the environment, else from the env file (the environment wins)."""
    if environ.get(TOKEN_VAR):
        return environ[TOKEN_VAR]
    if env_file is None:
        return ""
    if not env_file.is_file():
        raise ConfigError(f"--env-file {env_file} does not exist")
    return dotenv_values(env_file).get(TOKEN_VAR) or ""


def resolve(argv: list[str], environ: Mapping[str, str] | None = None) -> RunnerConfig:
    """Parse argv and resolve the token; raises ConfigError (argparse exits on bad syntax)."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    check_loopback(args.host, "runner")
    check_port(args.port)
    if args.kill_grace <= 0:
        raise ConfigError("--kill-grace must be positive")
    faults = side_faults(args.fault, "runner")
    token = load_token(args.env_file, environ)
    if not token:
        raise ConfigError(f"no token: set {TOKEN_VAR} in the environment or in --env-file")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise ConfigError(f"missing host tools {', '.join(missing)} (see scripts/setup-host.sh)")
    return RunnerConfig(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir.resolve(),
        registry=args.registry,
        log_file=args.log_file,
        image_dirs=parse_image_dirs(args.image_dir),
        faults=faults,
        kill_grace=args.kill_grace,
        token=token,
    )
