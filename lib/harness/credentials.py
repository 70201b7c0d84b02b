"""Read and write the BoxLite credentials file without collateral damage.

The file (`$BOXLITE_HOME/credentials.toml`, else `~/.boxlite/credentials.toml`) is shared with
the `boxlite` CLI and with a developer's real profiles, so a write must neither corrupt,
expose nor clobber anything (history: docs/history.md):

- parsing and writing go through `tomllib` / `tomli_w`, so values are escaped correctly;
- a write replaces the file atomically (temp file in the same directory, fsync, rename), so a
  crash never leaves half a file, and the new file is mode 0600 from the first byte;
- every other profile and every unknown top-level key is preserved;
- profiles this tool wrote carry `managed_by = "boxlite-e2e"`; a profile of the same name
  that lacks the mark belongs to someone else and is never overwritten unless the caller
  explicitly says so;
- concurrent writers (two fixture runs, xdist workers) serialise on an advisory lock so no
  update is lost.

Secrets are never printed: errors name the file and the profile, never values.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from lib import processes
from lib.errors import HarnessError
from lib.tomlcompat import tomllib
from standin import atomicfile

MANAGED_KEY = "managed_by"
MANAGED_VALUE = "boxlite-e2e"
FILE_MODE = 0o600
DIR_MODE = 0o700


class CredentialsError(HarnessError):
    """The credentials file is unreadable, malformed, or a write would clobber a profile."""


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the SDK and CLI look: `$BOXLITE_HOME/credentials.toml` or `~/.boxlite/...`."""
    env = os.environ if env is None else env
    home = env.get("BOXLITE_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "credentials.toml"
    user_home = env.get("HOME", "").strip()
    base = Path(user_home) if user_home else Path.home()
    return base / ".boxlite" / "credentials.toml"


def _load_document(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"credentials file {path} is not valid TOML: {exc}") from None
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        raise CredentialsError(f"credentials file {path}: [profiles] is not a table")
    return doc


def load_profiles(path: Path) -> dict[str, dict]:
    """All `[profiles.<name>]` tables; `{}` when the file does not exist."""
    profiles = _load_document(Path(path)).get("profiles", {})
    return {name: dict(p) for name, p in profiles.items() if isinstance(p, dict)}


def is_managed(profile: Mapping[str, Any]) -> bool:
    """True when this tool wrote the profile (and may therefore rewrite it)."""
    return profile.get(MANAGED_KEY) == MANAGED_VALUE


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # A sibling lock file, not the credentials file itself: the file is replaced by rename,
    # so a lock on its inode would not exclude a writer that opened the new one.
    with processes.exclusive_lock(path.with_name(path.name + ".lock"), wait=True):
        yield


def _atomic_write(path: Path, data: bytes) -> None:
    # 0600 from the first byte, so the secret is never readable by others, even briefly;
    # the directory is fsynced too, so the rename itself is durable.
    atomicfile.write_private(path, data, sync_dir=True)


def write_profile(
    path: Path,
    name: str,
    profile: Mapping[str, Any],
    *,
    managed: bool = True,
    replace_unmanaged: bool = False,
) -> Path:
    """Create or replace `[profiles.<name>]`, keeping everything else in the file.

    With `managed` (the default) the written profile carries `managed_by = "boxlite-e2e"`.
    An existing profile without that mark is someone else's (a developer's `default`):
    replacing it raises `CredentialsError` unless `replace_unmanaged=True`.
    """
    path = Path(path)
    if not name or not isinstance(name, str):
        raise CredentialsError("profile name must be a non-empty string")
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    new_profile = dict(profile)
    if managed:
        new_profile[MANAGED_KEY] = MANAGED_VALUE
    with _locked(path):
        doc = _load_document(path)
        profiles = dict(doc.get("profiles", {}))
        existing = profiles.get(name)
        if isinstance(existing, dict) and not is_managed(existing) and not replace_unmanaged:
            raise CredentialsError(
                f"profile {name!r} in {path} was not written by boxlite-e2e "
                f"(no {MANAGED_KEY} = {MANAGED_VALUE!r}); refusing to overwrite it. "
                "Use another profile name (BOXLITE_E2E_PROFILE) or remove it yourself."
            )
        profiles[name] = new_profile
        doc["profiles"] = profiles
        _atomic_write(path, tomli_w.dumps(doc).encode("utf-8"))
    return path


def remove_profile(path: Path, name: str, *, only_managed: bool = True) -> bool:
    """Drop `[profiles.<name>]`; returns False when absent. Unmanaged ones are kept."""
    path = Path(path)
    if not path.exists():
        return False
    with _locked(path):
        doc = _load_document(path)
        profiles = dict(doc.get("profiles", {}))
        existing = profiles.get(name)
        if existing is None:
            return False
        if only_managed and not (isinstance(existing, dict) and is_managed(existing)):
            raise CredentialsError(
                f"profile {name!r} in {path} was not written by boxlite-e2e; not removing it"
            )
        del profiles[name]
        doc["profiles"] = profiles
        _atomic_write(path, tomli_w.dumps(doc).encode("utf-8"))
    return True
