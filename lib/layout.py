"""Where a stack lives on a host: every path and port, derived from a few overridable roots.

Upstream hard-coded `/etc`, `/var/lib/boxlite`, `/var/log`, `/usr/local/bin` and ports
3000/8080/5000, so only one stack could exist per host. Here every path derives from one root
(`BOXLITE_E2E_ROOT`, default `/`) and every port from its own variable, so the self-tests can
run a whole second stack in a temporary root beside a real one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_PORT = 3000
DEFAULT_RUNNER_PORT = 8080
DEFAULT_REGISTRY_PORT = 5000
# The cloud stack's own Postgres and Redis: harness-owned instances, on ports that do not
# collide with the system clusters Debian's postgresql and redis-server packages start.
DEFAULT_POSTGRES_PORT = 15432
DEFAULT_REDIS_PORT = 16379


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{name}={port} is out of range 1..65535")
    return port


@dataclass(frozen=True)
class Layout:
    root: Path
    api_port: int = DEFAULT_API_PORT
    runner_port: int = DEFAULT_RUNNER_PORT
    registry_port: int = DEFAULT_REGISTRY_PORT
    postgres_port: int = DEFAULT_POSTGRES_PORT
    redis_port: int = DEFAULT_REDIS_PORT
    # BOXLITE_E2E_IMAGE_CACHE: built image layouts kept outside the root (a CI cache).
    image_cache: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Layout:
        env = os.environ if env is None else env
        return cls(
            root=Path(env.get("BOXLITE_E2E_ROOT") or "/"),
            api_port=_port(env, "BOXLITE_E2E_API_PORT", DEFAULT_API_PORT),
            runner_port=_port(env, "BOXLITE_E2E_RUNNER_PORT", DEFAULT_RUNNER_PORT),
            registry_port=_port(env, "BOXLITE_E2E_REGISTRY_PORT", DEFAULT_REGISTRY_PORT),
            postgres_port=_port(env, "BOXLITE_E2E_POSTGRES_PORT", DEFAULT_POSTGRES_PORT),
            redis_port=_port(env, "BOXLITE_E2E_REDIS_PORT", DEFAULT_REDIS_PORT),
            image_cache=Path(env["BOXLITE_E2E_IMAGE_CACHE"])
            if env.get("BOXLITE_E2E_IMAGE_CACHE")
            else None,
        )

    # roots
    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    @property
    def state_dir(self) -> Path:
        return self.root / "var/lib/boxlite"

    @property
    def log_dir(self) -> Path:
        return self.root / "var/log"

    @property
    def bin_dir(self) -> Path:
        return self.root / "usr/local/bin"

    @property
    def run_dir(self) -> Path:
        """Sockets and pid files (the harness's own supervisord, Postgres's socket)."""
        return self.root / "run/boxlite-e2e"

    @property
    def config_dir(self) -> Path:
        """Generated service configs: supervisor programs, registry, Redis, bootstrap record."""
        return self.etc_dir / "boxlite-e2e"

    @property
    def unit_dir(self) -> Path:
        """systemd unit files (read by systemd only when the root is `/`)."""
        return self.etc_dir / "systemd/system"

    # files
    @property
    def secrets_file(self) -> Path:
        return self.etc_dir / "boxlite-secrets.env"

    @property
    def env_file(self) -> Path:
        return self.etc_dir / "boxlite-api.env"

    @property
    def runner_env_file(self) -> Path:
        """The runner's own env file: only its token, not the API's secrets."""
        return self.etc_dir / "boxlite-runner.env"

    @property
    def api_log(self) -> Path:
        return self.log_dir / "boxlite-api.log"

    @property
    def runner_log(self) -> Path:
        """The runner's log file where it is not run under systemd (journald)."""
        return self.log_dir / "boxlite-runner.log"

    @property
    def registry_dir(self) -> Path:
        return self.state_dir / "registry"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.state_dir / "redis"

    @property
    def standin_runner_state(self) -> Path:
        return self.state_dir / "standin-runner"

    @property
    def standin_image_cache(self) -> Path:
        """Built stand-in image layouts kept between bootstraps (the tools image)."""
        return self.image_cache or self.state_dir / "standin-images"

    @property
    def standin_api_state(self) -> Path:
        return self.state_dir / "standin-api"

    # urls
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api"

    @property
    def runner_url(self) -> str:
        return f"http://127.0.0.1:{self.runner_port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.registry_port}"
