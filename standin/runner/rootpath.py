"""Resolve box paths against a box's rootfs directory on the host, never escaping it.

A box sees its rootfs as `/`, so an absolute symlink inside it (`/bin/sh -> /bin/busybox`,
`/var/run -> /run`) means a path *under the rootfs*, not on the host. The runner needs such
lookups to refuse an exec of a missing binary before spawning it (a typed error, not a 500:
the bug `spawn-failed-500` models) and to place copy_in/copy_out files. The kernel's
`openat2(RESOLVE_IN_ROOT)` does this but is not exposed by Python, so this walks the path
itself, re-rooting absolute links and clamping `..` at the rootfs, like RESOLVE_IN_ROOT.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

MAX_LINKS = 40  # the kernel's own limit on symlinks followed in one lookup


class PathLoop(OSError):
    """Too many levels of symbolic links inside the rootfs."""


def box_path_parts(path: str) -> list[str]:
    """Components of a box path, relative to the box's `/` (`..` kept for the walker)."""
    return [p for p in PurePosixPath("/", path).parts[1:] if p not in ("", ".")]


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """Host path of box path `path` inside `root`, following links confined to `root`.

    Components that do not exist are appended as they are, so the result also names files
    about to be created. With `follow_last=False` a final symlink is not followed.
    """
    root = Path(root)
    todo = box_path_parts(path)
    todo.reverse()  # a stack: pop() yields the next component
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        is_last = not todo
        try:
            mode = os.lstat(candidate).st_mode
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(mode) and (follow_last or not is_last):
            links += 1
            if links > MAX_LINKS:
                raise PathLoop(f"too many levels of symbolic links in {path!r}")
            target = os.readlink(candidate)
            parts = box_path_parts(target)
            if target.startswith("/"):
                done = []
            todo.extend(reversed(parts))
            continue
        done.append(part)
    return root.joinpath(*done)


def find_executable(root: Path, command: str, search_path: str, cwd: str = "/") -> str | None:
    """The box path `command` runs as, or None when no executable file matches.

    Mirrors execvp: a command with a `/` is taken as given (relative to `cwd`), otherwise
    each `PATH` entry is tried in order. The returned path keeps its last symlink
    unresolved, so busybox applet links still see their own name as argv[0].
    """
    if "/" in command:
        candidates = [str(PurePosixPath(cwd, command))]
    else:
        candidates = [f"{d.rstrip('/')}/{command}" for d in search_path.split(":") if d]
    for candidate in candidates:
        try:
            host = resolve_in_root(root, candidate)
        except PathLoop:
            continue
        try:
            st = os.stat(host)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    return None
