"""Replace a file atomically: a reader sees the old content or the new, never a torn write.

One helper for every such write in both trees: the harness's credentials, secrets and env
files (`lib/harness/credentials.py`, `lib/stack/secrets.py`, `lib/stack/envfile.py`),
the stand-in API's record store and the runner's box records (`write_private`); the
service-manager configs (`lib/stack/services.py`) and the registry config
(`standin/registry.py`) (`write_if_changed`); run summaries and two-sided reports
(`write_text`).

It lives in `standin/`, not `lib/`, and imports only the standard library: `lib` already
depends on `standin` (faults, images, registry), while the stand-in must run without the
harness library's heavier modules. So the arrow stays lib → standin.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, data: str | bytes, *, sync_dir: bool = False) -> None:
    """Replace `path` with `data` in a file that is 0600 from its first byte.

    The temp file sits in the same directory (so the rename is atomic); mkstemp creates it
    0600 and fchmod pins that against an odd umask; it is flushed and fsynced before
    `os.replace`, and removed again on any failure. `sync_dir` also fsyncs the directory, so
    the rename itself survives a crash. The parent directory must exist.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            os.fchmod(fh.fileno(), PRIVATE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)


def write_if_changed(path: Path, text: str) -> bool:
    """Replace `path` with `text` unless it already holds exactly that; True when written.

    For config files other programs read (unit files, supervisor and registry configs): the
    new file gets the ordinary creation mode (umask applies), written to `.NAME.tmp` next to
    it and renamed over it. The parent directory is created when missing.
    """
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    write_text(path, text)
    return True


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (ordinary mode, umask applies) via `.NAME.tmp` + rename.

    For documents readers may open at any moment (run summaries, two-sided reports): they
    see the old one or the new one, never half. The parent directory is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
