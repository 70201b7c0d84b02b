"""Resolve a box `user` ("uid", "uid:gid", "name" or "name:group") against the box's rootfs.

The user is looked up in the box's own `/etc/passwd` and `/etc/group`, as a container
runtime would, so `user="nobody"` means the image's nobody, and the home directory feeds
`HOME` for execs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from standin.errors import ApiError


@dataclass(frozen=True)
class BoxUser:
    uid: int
    gid: int
    home: str


def _table(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def resolve_user(rootfs: Path, spec: str | None) -> BoxUser:
    passwd = [row for row in _table(rootfs / "etc/passwd") if len(row) >= 6]
    groups = [row for row in _table(rootfs / "etc/group") if len(row) >= 3]
    if not spec:
        spec = "0"
    user_part, _, group_part = spec.partition(":")
    entry = next((row for row in passwd if row[0] == user_part), None)
    if entry is None and user_part.isdigit():
        entry = next((row for row in passwd if row[2] == user_part), None)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif user_part.isdigit():
        uid, gid, home = int(user_part), int(user_part), "/"
    else:
        raise ApiError("invalid_argument", f"user {user_part!r} is not in the box's /etc/passwd")
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            row = next((g for g in groups if g[0] == group_part), None)
            if row is None:
                raise ApiError(
                    "invalid_argument", f"group {group_part!r} is not in the box's /etc/group"
                )
            gid = int(row[2])
    if uid == 0 and home == "/":
        home = "/root"
    return BoxUser(uid, gid, home)
