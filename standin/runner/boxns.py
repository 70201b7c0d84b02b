"""Start a box's bubblewrap inside its own user namespace: root inside, unprivileged outside.

Why a helper process: a BoxLite guest's root is root of a VM, never the host's root. Here the
runner runs as the host's root, and bwrap started from it would give the box the host's uid 0
(bwrap's own `--unshare-user` maps the caller's uid, which is 0). So before bwrap starts, this
helper (run as `python -m standin.runner.boxns ... -- bwrap ...`, replaced by bwrap with exec,
so bwrap keeps the pid and `--die-with-parent` still ties it to the runner):

1. creates a user namespace whose uid/gid 0..65535 are host ids BASE..BASE+65535 (a range no
   host account uses; the runner gives every running box its own BASE);
2. in a private mount namespace (so nothing is left on the host's mount table), replaces each
   `--idmap PATH` (the box's rootfs, and any directory bound into it) with an *idmapped* bind
   of itself (mount_setattr MOUNT_ATTR_IDMAP): files stay owned by their ids on disk, the box
   sees them under the same ids, and a file the box's root writes is stored as uid 0 on disk.
   No ownership shifting of rootfs copies, uploads or volumes is needed anywhere else;
   The idmapped copies are mounted under STAGE (a tmpfs private to that namespace) and
   bwrap's `--bind PATH DEST` is rewritten to them: bwrap resolves its sources as the box's
   uid, which may not traverse the runner's state dir (0700);
4. joins the namespace as its uid 0 and execs bwrap, which builds the box's mount, pid, ipc,
   uts and net namespaces owned by it.

Stdlib only (ctypes for the syscalls Python 3.11 lacks): it runs once per box start.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000
# x86_64 and aarch64 share these numbers (the new mount API came after the table unification).
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
ID_COUNT = 65536
MS_NOSUID, MS_NODEV = 0x2, 0x4
# Mount point of the per-box staging tmpfs; only the (empty) directory exists on the host.
STAGE = "/run/standin-boxns"

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def new_userns(base: int) -> int:
    """A user namespace mapping 0..65535 to base..base+65535; returns an fd holding it."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child only creates the namespace and waits for its maps
        try:
            os.close(ready_r)
            os.close(go_w)
            _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
            os.write(ready_w, b"1")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError("the user namespace could not be created")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {base} {ID_COUNT}\n")
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def idmap_onto(path: str, target: str, userns_fd: int) -> None:
    """Mount an idmapped clone of `path` on `target` (in the current mount namespace)."""
    tree = _check(
        _libc.syscall(SYS_OPEN_TREE, AT_FDCWD, path.encode(), OPEN_TREE_CLONE | os.O_CLOEXEC),
        f"open_tree({path})",
    )
    try:
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        _check(
            _libc.syscall(
                SYS_MOUNT_SETATTR, tree, b"", AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)
            ),
            f"mount_setattr(idmap, {path})",
        )
        _check(
            _libc.syscall(
                SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH
            ),
            f"move_mount({path} -> {target})",
        )
    finally:
        os.close(tree)


def parse(argv: list[str]) -> tuple[int, list[str], list[str]]:
    """`--base N [--idmap PATH]... -- COMMAND...` -> (base, paths, command)."""
    if "--" not in argv:
        raise ValueError("usage: boxns --base N [--idmap PATH]... -- COMMAND...")
    cut = argv.index("--")
    opts, command = argv[:cut], argv[cut + 1 :]
    base, paths = None, []
    it = iter(opts)
    for opt in it:
        value = next(it, None)
        if value is None:
            raise ValueError(f"{opt} needs a value")
        if opt == "--base":
            base = int(value)
        elif opt == "--idmap":
            paths.append(value)
        else:
            raise ValueError(f"unknown option {opt}")
    if base is None or base <= 0 or not command:
        raise ValueError("--base (a positive host id) and a command are required")
    return base, paths, command


def rebind(command: list[str], staged: dict[str, str]) -> list[str]:
    """bwrap's `--bind PATH DEST` -> `--bind STAGED DEST` for every idmapped path."""
    out, i = [], 0
    while i < len(command):
        if command[i] == "--bind" and i + 2 < len(command) and command[i + 1] in staged:
            out += ["--bind", staged[command[i + 1]], command[i + 2]]
            i += 3
            continue
        out.append(command[i])
        i += 1
    return out


def main(argv: list[str]) -> int:
    try:
        base, paths, command = parse(argv)
        userns = new_userns(base)
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        os.makedirs(STAGE, mode=0o755, exist_ok=True)
        _check(
            _libc.mount(b"tmpfs", STAGE.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"),
            f"mount tmpfs on {STAGE}",
        )
        staged = {}
        for i, path in enumerate(paths):
            staged[path] = f"{STAGE}/{i}"
            os.mkdir(staged[path])
            idmap_onto(path, staged[path], userns)
        command = rebind(command, staged)
        _check(_libc.setns(userns, CLONE_NEWUSER), "setns(user)")
        os.close(userns)
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        os.execvp(command[0], command)
    except (OSError, ValueError) as exc:
        print(f"boxns: {exc}", file=sys.stderr)
        return 1
    return 0  # not reached: exec replaced us


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
