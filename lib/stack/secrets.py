"""The stack's secrets: minted once, kept in one 0600 file, reused on every bootstrap.

Why this exists: the API creates its admin user from `ADMIN_API_KEY` at first boot and encrypts
columns with `ENCRYPTION_KEY`/`ENCRYPTION_SALT`, so rotating them while the database survives
breaks admin login and encrypted data (history: docs/history.md). The file is created 0600 from
its first byte, a missing key is added without touching the others, a loosened mode is
tightened again, and no value is ever printed: the functions return key *names* for reports.
"""

from __future__ import annotations

import os
import secrets as _random
from pathlib import Path

from lib.errors import HarnessError
from standin import atomicfile

FILE_MODE = 0o600
# name -> random bytes (hex-encoded, so twice as many characters). Sizes follow upstream.
SPEC: dict[str, int] = {
    "ADMIN_API_KEY": 24,
    "ENCRYPTION_KEY": 32,
    "ENCRYPTION_SALT": 16,
    "DEFAULT_RUNNER_API_KEY": 16,
    "PROXY_API_KEY": 16,
    # The cloud stack's Postgres role password (minted like the others, never a fixed literal).
    "DB_PASSWORD": 16,
    # /api/health/ready takes only this key (upstream health.controller.ts HealthCheckGuard;
    # api-key.strategy.ts maps it to role `health-check`); the admin key is refused there.
    "HEALTH_CHECK_API_KEY": 16,
    # api-key.strategy.ts (sandbox era) does getOrThrow('sshGateway.apiKey') before any
    # other key: unset, every API-key request is 401.
    "SSH_GATEWAY_API_KEY": 16,
}


class SecretsError(HarnessError):
    """The secrets file exists but cannot be read or parsed (never quotes a value)."""


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and `#` comments ignored; values are never unquoted."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise SecretsError(f"line {number} is not KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def render(values: dict[str, str]) -> str:
    """The secrets file text, one KEY=value per line."""
    header = "# boxlite-e2e secrets: minted once, reused by every bootstrap. Keep 0600.\n"
    return header + "".join(f"{k}={v}\n" for k, v in values.items())


def load(path: Path) -> dict[str, str]:
    """The secrets in `path`, {} when it does not exist; SecretsError when unreadable or
    malformed."""
    try:
        return parse(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SecretsError(f"cannot read secrets file {path}: {exc.strerror}") from None
    except SecretsError as exc:
        raise SecretsError(f"secrets file {path}: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file that is 0600 from its first byte."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_private(path, text)


def plan(path: Path) -> tuple[dict[str, str], list[str], bool]:
    """(current values, names to mint, mode needs tightening) without changing anything."""
    current = load(path)
    missing = [name for name in SPEC if not current.get(name)]
    loose = Path(path).exists() and (Path(path).stat().st_mode & 0o777) != FILE_MODE
    return current, missing, loose


def ensure(path: Path) -> tuple[dict[str, str], list[str]]:
    """Return (secrets, what changed): mints only missing keys, keeps the rest, fixes mode.

    The change list names keys and facts (`minted ADMIN_API_KEY`, `mode 0600`), never values.
    """
    current, missing, loose = plan(path)
    changes: list[str] = []
    if missing:
        for name in missing:
            current[name] = _random.token_hex(SPEC[name])
        write_private(path, render(current))
        changes.append("minted " + ",".join(missing))
    elif loose:
        os.chmod(path, FILE_MODE)
        changes.append(f"mode set to {FILE_MODE:04o}")
    return current, changes
