"""The cloud stack's build steps from a BoxLite checkout, per era (lib/stack/checkout.py).

Why this exists: bootstrap (`--stack cloud`) and the two-sided driver must build a checkout
the same way, and the way depends on the checkout's era (issue 13). One plan, read by both:

- submodules first (`scripts/setup/setup-submodules.sh`: libkrun, libkrunfw, e2fsprogs,
  bubblewrap are vendored as submodules; a CI checkout without `submodules:` has none);
- the VM runtime (shim, guest, libkrunfw) through the checkout's own
  `scripts/build/build-runtime.sh` (`make/dist.mk` `dist:c: runtime`), after adding the
  guest's musl rustup target (`scripts/setup/setup-ubuntu.sh` `check_rust_target`);
- `libboxlite.a` in the profile the Go SDK links, its embedded gvproxy's Go runtime symbols
  localised (`scripts/build/fix-go-symbols.sh`, `make/dist.mk` `dist:go`), then put exactly
  where the SDK's cgo LDFLAGS read it, and checked byte for byte there, so a side can never
  link a release library `go generate` downloaded (`sdks/go/bridge_cgo_prebuilt.go`);
- the runner's embedded daemon assets before `go build` (`apps/runner/pkg/daemon/assets.go`
  embeds `static/*`; `scripts/build/build-runner-binary.sh` builds them first);
- the API's dependencies with the Yarn the checkout pins (`apps/package.json`
  `packageManager`): Yarn 4 `--immutable`, Yarn 1 `--frozen-lockfile --non-interactive`; an
  uncommitted lockfile is seeded empty first, as upstream's `apps/e2e/bootstrap.sh` does.

Every step runs with stdin closed (a Corepack download prompt then fails at once instead of
waiting invisibly behind captured output) and Corepack's prompt switched off.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib import processes
from lib.errors import HarnessError
from lib.stack.checkout import Checkout

# The CGo bridge symbols libgvproxy (a Go c-archive inside libboxlite.a) exports; left
# global they clash with the runner's own Go runtime. The same list fix-go-symbols.sh
# localises, for checkouts that predate the script.
_SYMBOLS = """
    _cgo_panic _cgo_topofstack crosscall2 _cgo_release_context _cgo_sys_thread_start
    x_cgo_init _cgo_get_context_function _cgo_set_stacklo _cgo_try_pthread_create
    _cgo_wait_runtime_init_done x_cgo_bindm x_cgo_notify_runtime_init_done
    x_cgo_set_context_function x_cgo_sys_thread_create x_cgo_setenv x_cgo_unsetenv
    x_cgo_getstackbound x_cgo_callers x_cgo_thread_start crosscall1
"""
GO_RUNTIME_SYMBOLS = tuple(_SYMBOLS.split())
# Set for every step: no Corepack download prompt, no husky hook install (apps/package.json
# postinstall runs husky unless HUSKY=0 or CI=true; CI=true would also flip Yarn 4 into
# immutable mode on its own, so it is not used).
STEP_ENV = {"COREPACK_ENABLE_DOWNLOAD_PROMPT": "0", "HUSKY": "0"}


@dataclass(frozen=True)
class Step:
    """One build command: what it makes, argv, working dir and extra environment."""

    what: str
    argv: tuple[str, ...]
    cwd: Path
    env: tuple[tuple[str, str], ...] = ()


class StepFailed(HarnessError):
    """A build step exited non-zero or could not start; the message has the log tail."""


def guest_target() -> str:
    """The musl target triple the guest agent builds for on this host's architecture."""
    arch = {"arm64": "aarch64"}.get(platform.machine(), platform.machine())
    return f"{arch}-unknown-linux-musl"


def built_library(co: Checkout, target_dir: Path) -> Path:
    """Where the cargo build leaves libboxlite.a for the profile the Go SDK links."""
    return target_dir / co.go_link.profile / "libboxlite.a"


def runner_plan(co: Checkout, runner_out: Path, *, target_dir: Path | None = None) -> list[Step]:
    """Submodules, runtime, libboxlite.a (fixed, staged, verified), daemon assets, runner.

    `target_dir`: a cargo target dir to share between checkouts (the two-sided driver's
    cache); the checkout's `target` is pointed at it, because upstream's runtime and
    symbol scripts read `target/<profile>/...` relative to the checkout.
    """
    root = co.root
    steps: list[Step] = []
    if co.submodules:
        steps += [
            Step("submodules (sync)", ("git", "submodule", "sync", "--recursive"), root),
            Step(
                "submodules",
                (
                    "git",
                    "submodule",
                    "update",
                    "--init",
                    "--recursive",
                    "--depth",
                    "1",
                    "--jobs",
                    "4",
                ),
                root,
            ),  # fmt: skip
        ]
    if target_dir is not None and target_dir != root / "target":
        # The cache must exist (cargo cannot create through a dangling link); -T fails
        # loudly on a real `target/` directory instead of linking inside it.
        steps.append(Step("cargo target cache", ("mkdir", "-p", str(target_dir)), root))
        link = ("ln", "-sfnT", str(target_dir), "target")
        steps.append(Step("share the cargo target dir", link, root))
    cargo_target = root / "target"
    if co.runtime_script:
        steps += [
            Step("guest rust target", ("rustup", "target", "add", guest_target()), root),
            Step(
                "VM runtime (shim, guest, libkrunfw)",
                ("bash", "scripts/build/build-runtime.sh", "--profile", co.go_link.profile),
                root,
            ),
        ]
    profile_flag = ("--release",) if co.go_link.profile == "release" else ()
    built = built_library(co, cargo_target)
    steps.append(Step("libboxlite.a", ("cargo", "build", *profile_flag, "-p", "boxlite-c"), root))
    if co.fix_symbols_script:
        fix = ("bash", "scripts/build/fix-go-symbols.sh", str(built))
        steps.append(Step("localise Go runtime symbols", fix, root))
    elif co.go_link.mode != "srcdir":
        localise = tuple(f"--localize-symbol={s}" for s in GO_RUNTIME_SYMBOLS)
        objcopy = ("llvm-objcopy", *localise, str(built))
        steps.append(Step("localise Go runtime symbols", objcopy, root))
    staged = root / co.go_link.library
    if staged != built:
        steps.append(
            Step(
                f"put libboxlite.a where the Go SDK links it ({co.go_link.mode})",
                ("install", "-D", "-m", "0644", str(built), str(staged)),
                root,
            )
        )
    header = root / "sdks/c/include/boxlite.h"
    if co.go_link.mode == "prebuilt" and header.is_file():
        include = staged.parent.parent / "include/boxlite.h"
        copy = ("install", "-D", "-m", "0644", str(header), str(include))
        steps.append(Step("header for the prebuilt link", copy, root))
    steps.append(Step("the Go SDK links this build", ("cmp", str(built), str(staged)), root))
    apps = root / "apps"
    if co.runner_embed:
        static = apps / "runner/pkg/daemon/static"
        steps.append(
            Step(
                "runner daemon asset",
                ("go", "build", "-o", str(static / "daemon-amd64"), "./daemon/cmd/daemon/"),
                apps,
                (("CGO_ENABLED", "0"),),
            )
        )
        if co.computer_use:
            steps.append(
                Step(
                    "runner computer-use asset",
                    (
                        "go",
                        "build",
                        "-o",
                        str(static / "boxlite-computer-use"),
                        "./libs/computer-use/",
                    ),  # fmt: skip
                    apps,
                    (("CGO_ENABLED", "1"),),
                )
            )
    tags = ("-tags", ",".join(co.go_link.tags)) if co.go_link.tags else ()
    steps.append(
        Step(
            "runner",
            ("go", "build", *tags, "-o", str(runner_out), "./cmd/runner"),
            apps / "runner",
            (("CGO_ENABLED", "1"),),
        )
    )
    return steps


def api_plan(co: Checkout) -> list[Step]:
    """The API's dependencies (run from source by ts-node) and the apps/apps self-link."""
    apps = co.root / "apps"
    steps: list[Step] = []
    if not co.yarn_lock:
        # Upstream commits no apps/yarn.lock in some eras; an empty one anchors `apps/` as
        # the project root (apps/e2e/bootstrap.sh). Nothing to be immutable against then.
        seed = ("sh", "-c", "[ -e yarn.lock ] || : > yarn.lock")
        steps.append(Step("seed an empty apps/yarn.lock", seed, apps))
    if co.yarn_major >= 2:
        flags = ("--immutable",) if co.yarn_lock else ()
    else:
        flags = ("--non-interactive",) + (("--frozen-lockfile",) if co.yarn_lock else ())
    steps.append(Step("api dependencies", ("yarn", "install", *flags), apps))
    # api/project.json names apps/api/... paths; upstream's self-link, kept.
    steps.append(Step("api workspace self-link", ("ln", "-sfn", ".", "apps"), apps))
    return steps


def step_env(step: Step, base: dict[str, str]) -> dict[str, str]:
    """The environment a build step runs with: `base`, the shared build settings, its own."""
    return {**base, **STEP_ENV, **dict(step.env)}


def run_step(step: Step, log: Path, base_env: dict[str, str]) -> None:
    """Run one step, output appended to `log`, stdin closed; StepFailed with the tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"\n$ (cd {step.cwd} && {' '.join(step.argv)})\n")
        fh.flush()
        try:
            proc = subprocess.run(
                step.argv,
                cwd=step.cwd,
                env=step_env(step, base_env),
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise StepFailed(f"{step.what}: cannot run {step.argv[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        tail = processes.tail(log.read_text(errors="replace"), 25)
        raise StepFailed(f"{step.what}: {' '.join(step.argv)} exited {proc.returncode}\n{tail}")


Probe = Callable[[list[str]], subprocess.CompletedProcess]


def source_state(root: Path, probe: Probe) -> dict[str, str]:
    """HEAD and a hash of every uncommitted change, untracked files' *contents* included.

    Hashing only `git diff` plus the untracked names would miss an edit to a new,
    not-yet-added file (issue 13 m5): the build would be reused while its source changed.
    """
    head = probe(["git", "-C", str(root), "rev-parse", "HEAD"])
    diff = probe(["git", "-C", str(root), "diff", "HEAD", "--binary"])
    untracked = probe(["git", "-C", str(root), "ls-files", "-z", "--others", "--exclude-standard"])
    digest = hashlib.sha256(diff.stdout.encode())
    names = [n for n in untracked.stdout.split("\0") if n]
    for name in sorted(names):
        digest.update(b"\0" + name.encode() + b"\0")
        path = root / name
        try:
            digest.update(path.read_bytes() if path.is_file() and not path.is_symlink() else b"")
        except OSError:
            digest.update(b"<unreadable>")
    dirty = bool(diff.stdout.strip() or names)
    return {
        "sha": head.stdout.strip() if head.returncode == 0 else "unknown (not a git checkout)",
        "dirty": digest.hexdigest()[:16] if dirty else "",
    }


def venv_identity(prefix: str | None = None) -> str:
    """Which Python environment an SDK install went into (issue 13 M2).

    A CI job that recreates `.venv` from PyPI keeps `builds.json` from the last job; tying
    the SDK record to the venv's own identity (path, and the inode and mtime of its
    pyvenv.cfg, which a re-created venv changes) makes the next bootstrap rebuild the
    checkout's SDK instead of labelling the PyPI wheel as "checkout".
    """
    import sys

    base = Path(prefix or sys.prefix)
    cfg = base / "pyvenv.cfg"
    try:
        st = cfg.stat()
        stamp = f"{st.st_ino}:{st.st_mtime_ns}"
    except OSError:
        stamp = "no-pyvenv.cfg"
    return hashlib.sha256(f"{base.resolve()}|{stamp}".encode()).hexdigest()[:16]


def tool_path(extra: list[Path], environ: dict[str, str] | None = None) -> str:
    """PATH with `extra` directories first (installed toolchains), then the current PATH."""
    env = os.environ if environ is None else environ
    return ":".join([*(str(p) for p in extra), env.get("PATH", "/usr/bin:/bin")])
