"""The local OCI registry: Debian's `docker-registry`, configured for loopback only.

Why this exists: upstream ran `registry:2` from Docker Hub in a Docker container, published on
every interface at first. Debian packages the same registry as a plain binary, so the harness
needs neither Docker nor Docker Hub: this module writes its config (bound to 127.0.0.1, storage
under a given directory) and execs it in the foreground, which is what supervisor or a systemd
unit wants. Health is `GET http://127.0.0.1:PORT/v2/` answering 200.

Command line (`python -m standin registry ...`):
    config --port P --root DIR --out FILE    write the config file
    run --port P --root DIR [--config FILE]  write the config (default DIR/config.yml), exec
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

from standin import atomicfile

REGISTRY_BIN = "/usr/bin/docker-registry"
HOST = "127.0.0.1"


def render_config(port: int, root: Path) -> str:
    """The registry's YAML config. Scalars are JSON-quoted, which YAML reads verbatim."""
    if not 0 < port < 65536:
        raise ValueError(f"registry port {port} is out of range 1..65535")
    q = json.dumps
    return "\n".join(
        [
            "# Written by `python -m standin registry`; regenerated on every start.",
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: text",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {q(str(Path(root).resolve() / 'data'))}",
            # Deletes let `teardown --wipe-data` and tests remove images through the API.
            "  delete:",
            "    enabled: true",
            "http:",
            # Loopback only: a registry on 0.0.0.0 would serve the host's images to anyone.
            f"  addr: {q(f'{HOST}:{port}')}",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
            "",
        ]
    )


def write_config(port: int, root: Path, out: Path) -> bool:
    """Write the config (and the storage dir); return True when the file changed."""
    text = render_config(port, root)
    (Path(root) / "data").mkdir(parents=True, exist_ok=True)
    return atomicfile.write_if_changed(Path(out), text)


def health_url(port: int) -> str:
    return f"http://{HOST}:{port}/v2/"


def is_healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(health_url(port), timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(port: int, deadline_s: float = 30.0, alive=lambda: True) -> None:
    """Poll /v2/ until 200 or the deadline; `alive()` false (process died) fails at once."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if is_healthy(port):
            return
        if not alive():
            raise RuntimeError(f"registry on port {port} exited before it became healthy")
        time.sleep(0.05)  # poll interval of a bounded wait, not a readiness sleep
    raise TimeoutError(f"registry {health_url(port)} not healthy after {deadline_s:.0f}s")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m standin registry", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("config", "run"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--root", type=Path, required=True, help="storage root (data/ inside)")
        s.add_argument(
            "--out" if name == "config" else "--config",
            type=Path,
            required=name == "config",
            help="config file path",
        )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "config":
            write_config(args.port, args.root, args.out)
            return 0
        config = args.config or args.root / "config.yml"
        write_config(args.port, args.root, config)
    except (OSError, ValueError) as exc:
        print(f"standin registry: {exc}", file=sys.stderr)
        return 1
    # exec, not a child: supervisor/systemd signal and watch the registry itself.
    os.execv(REGISTRY_BIN, [REGISTRY_BIN, "serve", str(config)])
    return 1  # unreachable
