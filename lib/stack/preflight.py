"""`./bootstrap.sh --stack cloud --preflight`: can this host run the cloud stack? Changes nothing.

Why this exists: a cloud bring-up takes tens of minutes of builds before it can fail on
something knowable in a second (no checkout, an unknown layout, a port taken, no usable
KVM). Preflight checks all of that first, prints one line per check with the fix, and exits
non-zero when something would block a real run; `make test:e2e:setup STACK=cloud` runs it
before bootstrap. It never builds, installs or writes, and never raises: a check that
crashes is itself reported as a failed line.

The KVM check opens the device read-write and issues `KVM_GET_API_VERSION` and
`KVM_CREATE_VM`, like a VMM does. That proves the kernel hands out VMs, not that a guest
boots: nested or paravirtual KVM (a cloud VM, our own CI machines) passes it and can still
fail at guest boot. The line says so whenever the CPU reports a hypervisor.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from lib.layout import Layout
from lib.stack import checkout as checkout_mod

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_CREATE_VM = 0xAE01  # _IO(KVMIO, 0x01)
KVM_API_VERSION = 12
DISK_FAIL_GIB = 20  # cargo target (release + guest) and the libkrunfw kernel build
DISK_WARN_GIB = 40
NODE_MAJOR = 22


@dataclass(frozen=True)
class Check:
    """One preflight line: what was checked, ok | warn | FAIL, what was seen, the fix."""

    name: str
    status: str  # ok | warn | FAIL
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The line as printed: status, name, detail, and the fix when not ok."""
        tail = f" -- fix: {self.fix}" if self.fix and self.status != "ok" else ""
        return f"[{self.status:<4}] {self.name}: {self.detail}{tail}"


# --- individual checks ---------------------------------------------------------------------


def check_checkout(repo: Path | None) -> tuple[Check, checkout_mod.Checkout | None]:
    """The checkout exists, is a git tree and has a layout (era) the harness knows."""
    clone = "git clone --recurse-submodules https://github.com/boxlite-ai/boxlite.git"
    if repo is None:
        return Check(
            "checkout", "FAIL", "no BoxLite checkout given", f"{clone}; pass --repo PATH"
        ), None
    if not repo.is_dir():
        return Check("checkout", "FAIL", f"{repo} does not exist", f"{clone} {repo}"), None
    try:
        co = checkout_mod.detect(repo)
    except checkout_mod.UnknownLayout as exc:
        return (
            Check(
                "checkout",
                "FAIL",
                f"unknown layout ({'; '.join(exc.problems)}); "
                f"seen: {', '.join(exc.seen) or 'nothing'}",
                "point --repo at a boxlite-ai/boxlite checkout (a fork may have moved files)",
            ),
            None,
        )
    return Check("checkout", "ok", f"era {co.era}: {', '.join(co.seen)}"), co


def check_submodules(co: checkout_mod.Checkout) -> Check:
    """Every submodule the checkout declares is initialised (not an empty directory)."""
    if not co.submodules:
        return Check("submodules", "ok", "the checkout declares none")
    empty = [p for p in co.submodules if not any((co.root / p).glob("*"))]
    if not empty:
        return Check("submodules", "ok", f"{len(co.submodules)} initialised")
    return Check(
        "submodules",
        "warn",
        f"{len(empty)} of {len(co.submodules)} not initialised ({', '.join(empty)})",
        "bootstrap runs `git submodule update --init --recursive`; it needs network access",
    )


def check_os(os_release: Path = Path("/etc/os-release")) -> Check:
    """The host is Debian or Ubuntu, the systems bootstrap's package names are for."""
    try:
        text = os_release.read_text()
    except OSError:
        return Check("host", "FAIL", f"no {os_release}", "use Debian 12+ or Ubuntu 22.04+")
    ids = {
        line.split("=", 1)[1].strip().strip('"')
        for line in text.splitlines()
        if line.startswith(("ID=", "ID_LIKE="))
    }
    words = {w for v in ids for w in v.split()}
    pretty = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in text.splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        "unknown",
    )
    if words & {"debian", "ubuntu"}:
        return Check("host", "ok", pretty)
    return Check("host", "FAIL", f"{pretty} is not Debian/Ubuntu", "bootstrap installs with apt")


def check_root(euid: int) -> Check:
    """Bootstrap runs as root (it installs packages and services)."""
    if euid == 0:
        return Check("privileges", "ok", "running as root")
    return Check(
        "privileges",
        "FAIL",
        f"uid {euid}: bootstrap installs packages and services",
        "run bootstrap as root (preflight itself needs no root)",
    )


def _installed(package: str) -> bool:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "install ok installed" in done.stdout


def check_packages(packages: list[str], installed: Callable[[str], bool] = _installed) -> Check:
    """The build and service packages bootstrap would install are there (warn if not)."""
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return Check("packages", "ok", f"{len(packages)} build and service packages installed")
    return Check(
        "packages",
        "warn",
        f"{len(missing)} missing: {' '.join(missing)}",
        "bootstrap installs them (apt-get, needs network)",
    )


def _version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
            env={**os.environ, "GOTOOLCHAIN": "local"}, cwd="/",
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def check_toolchains(co: checkout_mod.Checkout | None, which=shutil.which) -> list[Check]:
    """Node, Go and Rust at the versions the checkout pins, or installable by bootstrap."""
    from lib.stack.bootstrap.cloud import CARGO_BIN, GO_ROOT, go_version, rust_channel

    out = []
    node = _version(["node", "--version"]) if which("node") else None
    major = int(node.lstrip("v").split(".")[0]) if node and node.lstrip("v")[:1].isdigit() else 0
    out.append(
        Check("node", "ok", node)
        if major >= NODE_MAJOR
        else Check(
            "node",
            "warn",
            f"{node or 'none'} (< {NODE_MAJOR})",
            f"bootstrap installs Node {NODE_MAJOR} (NodeSource)",
        )
    )
    rustup = which("rustup") or (
        str(CARGO_BIN / "rustup") if (CARGO_BIN / "rustup").exists() else None
    )
    want_rust = rust_channel(co.root) if co else "stable"
    out.append(
        Check("rust", "ok", f"rustup present; the checkout pins {want_rust}")
        if rustup
        else Check(
            "rust",
            "warn",
            f"no rustup (the checkout pins {want_rust})",
            "bootstrap installs rustup and the pinned toolchain",
        )
    )
    want_go = None
    if co is not None:
        try:
            want_go = go_version(co.root)
        except (OSError, ValueError):
            want_go = None
    go_bin = GO_ROOT / "bin/go"
    have_go = _version([str(go_bin), "env", "GOVERSION"]) if go_bin.exists() else None
    detail = f"{have_go or 'none'} in {GO_ROOT}; apps/runner/go.mod wants {want_go or '?'}"
    out.append(
        Check("go", "ok", detail)
        if have_go and want_go and _vt(have_go.removeprefix("go")) >= _vt(want_go)
        else Check(
            "go",
            "warn",
            detail,
            f"bootstrap installs Go {want_go or 'from go.mod'} (checksum-verified) into {GO_ROOT}",
        )
    )
    return out


def _vt(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.replace("-", ".").split(".")[:3] if x.isdigit())


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(paths: Mapping[str, Path]) -> list[Check]:
    """Enough free disk where builds, the stack root and caches go."""
    out = []
    for what, path in paths.items():
        where = _existing(path)
        free = shutil.disk_usage(where).free / 2**30
        detail = f"{free:.0f} GiB free at {where} ({what})"
        if free < DISK_FAIL_GIB:
            out.append(Check("disk", "FAIL", detail, f"free at least {DISK_FAIL_GIB} GiB there"))
        elif free < DISK_WARN_GIB:
            out.append(Check("disk", "warn", detail, f"{DISK_WARN_GIB} GiB keeps two-sided caches"))
        else:
            out.append(Check("disk", "ok", detail))
    return out


def check_ports(ports: Mapping[str, int], ours: Callable[[str], bool]) -> list[Check]:
    """The stack's ports are free, or held by this stack's own services."""
    try:
        listening = {
            c.laddr.port: c.pid
            for c in psutil.net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.laddr
        }
    except psutil.Error as exc:
        return [Check("ports", "warn", f"cannot list listening sockets ({exc})", "run as root")]
    out = []
    for service, port in ports.items():
        if port not in listening:
            out.append(Check("ports", "ok", f"{port} free for {service}"))
            continue
        if ours(service):
            out.append(Check("ports", "ok", f"{port} held by our own {service}"))
            continue
        pid = listening[port]
        who = f"pid {pid}" if pid else "another process"
        try:
            who += f" ({psutil.Process(pid).name()})" if pid else ""
        except psutil.Error:
            pass
        out.append(
            Check(
                "ports",
                "FAIL",
                f"{port} for {service} is taken by {who}",
                "stop it, or choose another port (BOXLITE_E2E_*_PORT)",
            )
        )
    return out


def _nested(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        return any(
            line.startswith("flags") and " hypervisor" in line
            for line in cpuinfo.read_text().splitlines()
        )
    except OSError:
        return False


NESTED_NOTE = (
    "note: KVM_CREATE_VM proves the kernel hands out VMs, not that a libkrun guest boots; "
    "nested or paravirtual KVM can pass this and still fail at guest boot"
)


def check_kvm(device: Path, nested: bool | None = None) -> Check:
    """/dev/kvm opens read-write and KVM_CREATE_VM succeeds (nested KVM may still fail at boot)."""
    nested = _nested() if nested is None else nested
    fix = "use a bare-metal or nested-virt-enabled host; add this user to group kvm"
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return Check("kvm", "FAIL", f"{device} does not exist", "load kvm_intel/kvm_amd; " + fix)
    except OSError as exc:
        return Check("kvm", "FAIL", f"cannot open {device} read-write: {exc.strerror}", fix)
    try:
        try:
            version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        except OSError as exc:
            return Check("kvm", "FAIL", f"{device} is not a KVM device ({exc.strerror})", fix)
        if version != KVM_API_VERSION:
            return Check(
                "kvm", "FAIL", f"KVM API version {version}, expected {KVM_API_VERSION}", fix
            )
        try:
            vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as exc:
            return Check("kvm", "FAIL", f"KVM_CREATE_VM failed: {exc.strerror}", fix)
        os.close(vm)
    finally:
        os.close(fd)
    where = "this host is itself a VM (CPU flag hypervisor); " if nested else ""
    return Check(
        "kvm", "warn" if nested else "ok", f"{device}: KVM_CREATE_VM works; {where}{NESTED_NOTE}"
    )


# --- the whole run -------------------------------------------------------------------------


def run(
    layout: Layout,
    repo: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    ours: Callable[[str], bool] = lambda _name: False,
    emit: Callable[[str], None] = print,
) -> int:
    """Every check, one line each; 1 when any FAILs (a real run would stop), else 0."""
    from lib.stack.bootstrap.common import CLOUD_PACKAGES

    env = os.environ if env is None else env
    checks: list[Check] = []

    def guarded(name: str, fn: Callable[[], list[Check] | Check]) -> None:
        try:
            got = fn()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed line, never a traceback
            got = Check(name, "FAIL", f"check crashed: {type(exc).__name__}: {exc}", "report it")
        checks.extend(got if isinstance(got, list) else [got])

    found: dict[str, checkout_mod.Checkout | None] = {"co": None}

    def checkout_check() -> Check:
        check, found["co"] = check_checkout(repo)
        return check

    guarded("checkout", checkout_check)
    co = found["co"]
    if co is not None:
        guarded("submodules", lambda: check_submodules(co))
    guarded("host", check_os)
    guarded("privileges", lambda: check_root(os.geteuid()))
    guarded("packages", lambda: check_packages(list(CLOUD_PACKAGES)))
    guarded("toolchains", lambda: check_toolchains(co))
    disk = {"stack state": layout.state_dir}
    if repo is not None:
        disk["checkout"] = repo
    guarded("disk", lambda: check_disk(disk))
    ports = {
        "boxlite-api": layout.api_port,
        "boxlite-runner": layout.runner_port,
        "boxlite-registry": layout.registry_port,
        "boxlite-postgres": layout.postgres_port,
        "boxlite-redis": layout.redis_port,
    }
    guarded("ports", lambda: check_ports(ports, ours))
    guarded("kvm", lambda: check_kvm(Path(env.get("BOXLITE_E2E_KVM_DEVICE", "/dev/kvm"))))
    emit(f"preflight: cloud stack, root {layout.root}, checkout {repo or '(none)'}")
    for check in checks:
        emit(check.line())
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        emit(
            f"preflight: {len(failed)} check(s) block a cloud bring-up: "
            + ", ".join(c.name for c in failed)
        )
        return 1
    warned = sum(c.status == "warn" for c in checks)
    emit(
        f"preflight: nothing blocks a bring-up ({warned} warning(s): bootstrap fixes or notes them)"
    )
    return 0
