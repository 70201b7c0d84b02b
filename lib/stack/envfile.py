"""The API's and the runner's env files: regenerated on every bootstrap, mode 0600.

Why this exists: configuration must follow the checkout (a new variable added by a PR has to
reach a long-lived host), so the files are rewritten from the layout and the secrets on every
run; the secrets themselves stay stable (lib/stack/secrets.py). Both files hold keys, so both
are 0600, and the runner's holds only what the runner needs (history: docs/history.md).

`python -m lib.stack.envfile exec FILE -- CMD ARGS...` loads FILE into the environment and execs
CMD: how a supervisor program (which cannot read env files) gets secrets without them
appearing in its config or on a command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lib.layout import Layout
from lib.stack import secrets

STACKS = ("cloud", "standin")


def api_env(stack: str, layout: Layout, values: dict[str, str]) -> dict[str, str]:
    """Variables of the API env file for `stack` (secrets taken from `values`)."""
    if stack not in STACKS:
        raise ValueError(f"unknown stack {stack!r}; expected one of {', '.join(STACKS)}")
    registry = f"http://{layout.registry}"
    env = {
        "BOXLITE_E2E_STACK": stack,
        "PORT": str(layout.api_port),
        "ADMIN_API_KEY": values["ADMIN_API_KEY"],
        "DEFAULT_RUNNER_API_KEY": values["DEFAULT_RUNNER_API_KEY"],
        "DEFAULT_RUNNER_API_URL": layout.runner_url,
        "DEFAULT_SNAPSHOT": "e2e/busybox:stable" if stack == "standin" else "ubuntu:22.04",
        # Only this key opens /api/health/ready (upstream health.controller.ts).
        "HEALTH_CHECK_API_KEY": values["HEALTH_CHECK_API_KEY"],
    }
    if stack == "standin":
        return env
    # The NestJS API's configuration (the variables upstream's bootstrap wrote), on our ports.
    env |= {
        "NODE_ENV": "development",
        "ENVIRONMENT": "production",
        "RUN_MIGRATIONS": "true",
        "VERSION": "0.1.0",
        "SKIP_CONNECTIONS": "false",
        "DEFAULT_REGION_ENFORCE_QUOTAS": "false",
        "AWS_REGION": "us-east-1",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(layout.postgres_port),
        "DB_USERNAME": "boxlite",
        "DB_PASSWORD": values["DB_PASSWORD"],
        "DB_DATABASE": "boxlite_dev",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(layout.redis_port),
        "REDIS_PASSWORD": "",
        "REDIS_TLS": "false",
        "ENCRYPTION_KEY": values["ENCRYPTION_KEY"],
        "ENCRYPTION_SALT": values["ENCRYPTION_SALT"],
        # Placeholders: API-key auth never contacts the OIDC issuer.
        "OIDC_CLIENT_ID": "boxlite",
        "OIDC_AUDIENCE": "boxlite",
        "OIDC_ISSUER_BASE_URL": "https://accounts.google.com",
        # An empty S3 endpoint turns the volume manager off: no AWS dependency.
        **{
            k: ""
            for k in [
                "S3_ENDPOINT",
                "S3_STS_ENDPOINT",
                "S3_REGION",
                "S3_ACCESS_KEY",
                "S3_SECRET_KEY",
                "S3_DEFAULT_BUCKET",
                "S3_ACCOUNT_ID",
                "S3_ROLE_NAME",
            ]
        },
        "PROXY_DOMAIN": "localhost:3001",
        "PROXY_PROTOCOL": "http",
        "PROXY_API_KEY": values["PROXY_API_KEY"],
        "PROXY_TEMPLATE_URL": "http://localhost:3001",
        # The admin org's quota at first boot (configuration.ts `admin.*`; the names are
        # *_PER_SANDBOX and ADMIN_TOTAL_*: upstream bootstrap's *_PER_BOX were never read).
        "ADMIN_TOTAL_CPU_QUOTA": "32",
        "ADMIN_TOTAL_MEMORY_QUOTA": "64",
        "ADMIN_TOTAL_DISK_QUOTA": "200",
        "ADMIN_MAX_CPU_PER_SANDBOX": "8",
        "ADMIN_MAX_MEMORY_PER_SANDBOX": "16",
        "ADMIN_MAX_DISK_PER_SANDBOX": "50",
        "ADMIN_SNAPSHOT_QUOTA": "100",
        "ADMIN_VOLUME_QUOTA": "100",
        "SSH_GATEWAY_API_KEY": values["SSH_GATEWAY_API_KEY"],
        # One request-log line per request, so path verification finds each box id in the
        # API log (configuration.ts `log.requests.enabled`; off unless "true").
        "LOG_REQUESTS_ENABLED": "true",
        # No colour where a library honours these (Nest's console logger); pino-pretty's
        # `colorize: true` does not, so the log reader strips ANSI codes as well.
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
        "DASHBOARD_URL": "http://localhost:5173",
        "DASHBOARD_BASE_API_URL": f"http://127.0.0.1:{layout.api_port}",
        "APP_URL": "",
        # Older eras getOrThrow all four of each at start-up (app.service.ts
        # initializeTransientRegistry/InternalRegistry); placeholders like upstream's.
        "TRANSIENT_REGISTRY_URL": registry,
        "TRANSIENT_REGISTRY_ADMIN": "admin",
        "TRANSIENT_REGISTRY_PASSWORD": "unused-local-registry",
        "TRANSIENT_REGISTRY_PROJECT_ID": "boxlite",
        "INTERNAL_REGISTRY_URL": registry,
        "INTERNAL_REGISTRY_ADMIN": "admin",
        "INTERNAL_REGISTRY_PASSWORD": "unused-local-registry",
        "INTERNAL_REGISTRY_PROJECT_ID": "boxlite",
        "INSECURE_REGISTRIES": layout.registry,
        "DEFAULT_RUNNER_NAME": "default",
        "DEFAULT_RUNNER_DOMAIN": "127.0.0.1",
        "DEFAULT_RUNNER_PROXY_URL": layout.runner_url,
        "DEFAULT_RUNNER_API_VERSION": "2",
    }
    return env


def runner_env(stack: str, layout: Layout, values: dict[str, str]) -> dict[str, str]:
    """The runner's env: its token and where things are. No DB or encryption secrets."""
    token = values["DEFAULT_RUNNER_API_KEY"]
    if stack == "standin":
        return {"DEFAULT_RUNNER_API_KEY": token}
    return {
        "BOXLITE_API_URL": layout.api_url,
        "BOXLITE_RUNNER_TOKEN": token,
        "API_VERSION": "2",
        "API_PORT": str(layout.runner_port),
        "RUNNER_DOMAIN": "127.0.0.1",
        "BOXLITE_HOME_DIR": str(layout.state_dir),
        "AWS_REGION": "us-east-1",
        "INSECURE_REGISTRIES": layout.registry,
    }


def render(values: dict[str, str]) -> str:
    """The env file text; ValueError on a value with a newline (it would inject another
    variable)."""
    for key, value in values.items():
        if "\n" in value:
            raise ValueError(f"env value of {key} contains a newline")
    return "# Generated by bootstrap on every run; edits are overwritten. Keep 0600.\n" + "".join(
        f"{k}={v}\n" for k, v in values.items()
    )


def write(path: Path, values: dict[str, str]) -> bool:
    """(Re)write the env file 0600; True when its content or mode changed."""
    text = render(values)
    path = Path(path)
    if path.is_file() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
        return False
    secrets.write_private(path, text)
    return True


def load(path: Path) -> dict[str, str]:
    """An env file's KEY=value pairs, parsed like the secrets file."""
    return secrets.parse(Path(path).read_text())


def main(argv: list[str]) -> int:
    """`exec ENV_FILE -- CMD ARGS...`: exec CMD with the file's variables added to the
    environment."""
    if len(argv) < 4 or argv[0] != "exec" or argv[2] != "--":
        print("usage: python -m lib.stack.envfile exec ENV_FILE -- CMD [ARGS...]", file=sys.stderr)
        return 2
    env = os.environ | load(Path(argv[1]))
    os.execvpe(argv[3], argv[3:], env)
    return 1  # unreachable


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
