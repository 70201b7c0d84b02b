"""Bootstrap steps of the cloud stack: real BoxLite built from a checkout (`--repo`).

For KVM hosts (a microVM per box); complete even where it cannot run, and its whole plan is
checked with `--dry-run` against a fake checkout. What it guarantees (history: docs/history.md):

- The checkout's era is detected first (lib/stack/checkout.py) and the build follows it
  (lib/stack/cloud_build.py); an unknown layout stops the run before anything changes.
- `/dev/kvm` must be readable *and* writable, not merely exist.
- Postgres and Redis are harness-owned instances (lib/stack/bootstrap/cloud_data.py).
- Toolchains follow the checkout's pins: Rust from `rust-toolchain.toml`, Go from
  `apps/runner/go.mod` (checked with GOTOOLCHAIN=local so Go does not fetch itself).
- `libboxlite.a` and the Go runner are rebuilt when the checkout's source state (HEAD plus a
  hash of uncommitted changes) differs from the recorded build, or the installed binary is
  not the recorded one; never reused stale, never rebuilt for nothing.
- The Python SDK is built from the checkout (maturin via pip); the PyPI wheel is used only
  when `--sdk-from-pypi` is given, and the summary says which.
- Host-level toolchains (Node, Rust, Go under /usr/local/go and ~/.cargo) are shared by
  every stack on the host and are never removed by teardown.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
from pathlib import Path

from lib.names import REPO_ROOT, RUNNER_BINARY
from lib.stack import checkout as checkout_mod
from lib.stack import cloud_build
from lib.stack.bootstrap.cloud_data import POSTGRES, REDIS
from lib.stack.bootstrap.common import API, RUNNER, fingerprint, port_conflict
from lib.stack.bootstrap.context import Context
from lib.stack.services import Service
from lib.tomlcompat import tomllib

NODE_MAJOR = 22
GO_ROOT = Path("/usr/local/go")
CARGO_BIN = Path.home() / ".cargo/bin"


def repo(ctx: Context) -> Path:
    """The BoxLite checkout from `--repo`; fails the step when none is given or it is not a
    checkout."""
    path = ctx.options.repo
    if path is None:
        ctx.fail("the cloud stack needs --repo PATH (a BoxLite checkout)")
        return Path("/nonexistent")
    if not (path / "apps/runner/go.mod").is_file():
        ctx.fail(f"{path} does not look like a BoxLite checkout (no apps/runner/go.mod)")
    return path


def layout_of(ctx: Context) -> checkout_mod.Checkout | None:
    """The checkout's era (lib/stack/checkout.py), detected once per run; None if unknown."""
    if "checkout" not in ctx.facts:
        try:
            ctx.facts["checkout"] = checkout_mod.detect(repo(ctx))
        except checkout_mod.UnknownLayout as exc:
            ctx.facts["checkout"] = None
            ctx.facts["checkout_error"] = str(exc)
    return ctx.facts["checkout"]  # type: ignore[return-value]


def checkout(ctx: Context) -> None:
    """Know the checkout first: an unknown layout stops here, before anything is built."""
    co = layout_of(ctx)
    if co is None:
        ctx.fail(str(ctx.facts.get("checkout_error")))
        return
    ctx.note(f"era {co.era}: {', '.join(co.seen)}")


def _checkout_or_fail(ctx: Context) -> checkout_mod.Checkout | None:
    co = layout_of(ctx)
    if co is None:
        ctx.fail(str(ctx.facts.get("checkout_error")))
    return co


def kvm(ctx: Context) -> None:
    """A usable /dev/kvm: opened read-write and KVM_CREATE_VM answered (lib/stack/preflight.py).

    Boxes are microVMs. Passing this is necessary, not sufficient: nested or paravirtual KVM
    can pass it and still fail at guest boot, which the note says on such hosts."""
    from lib.stack.preflight import check_kvm

    check = check_kvm(Path(ctx.env.get("BOXLITE_E2E_KVM_DEVICE", "/dev/kvm")))
    if check.status == "FAIL":
        ctx.fail(f"{check.detail} ({check.fix})")
    else:
        ctx.note(check.detail)


# --- toolchains ----------------------------------------------------------------------------


def _major(version_text: str) -> int:
    match = re.search(r"v?(\d+)\.", version_text)
    return int(match.group(1)) if match else 0


def node(ctx: Context) -> None:
    """Node 22 (NodeSource apt repository, key pinned by keyring) and yarn via corepack."""
    have = ctx.probe(["node", "--version"])
    if have.returncode == 0 and _major(have.stdout) >= NODE_MAJOR:
        ctx.note(f"node {have.stdout.strip()}")
    else:
        keyring = Path("/usr/share/keyrings/nodesource.gpg")
        ctx.run(
            [
                "sh",
                "-c",
                "curl -fsSL --max-time 60 "
                "https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key "
                f"| gpg --dearmor --yes -o {keyring}",
            ],
            "fetch the NodeSource signing key",
        )
        ctx.write(
            Path("/etc/apt/sources.list.d/nodesource.list"),
            f"deb [signed-by={keyring}] https://deb.nodesource.com/node_{NODE_MAJOR}.x "
            "nodistro main\n",
            "NodeSource apt source",
        )
        ctx.run(["apt-get", "update", "-qq"], "refresh package lists")
        ctx.run(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "nodejs"],
            f"install Node {NODE_MAJOR}",
        )
    if ctx.probe(["yarn", "--version"]).returncode != 0:
        ctx.run(["corepack", "enable"], "enable yarn (corepack)")


def rust_channel(checkout: Path) -> str:
    """The toolchain the checkout pins (rust-toolchain.toml / rust-toolchain), else stable."""
    toml_file = checkout / "rust-toolchain.toml"
    if toml_file.is_file():
        channel = tomllib.loads(toml_file.read_text()).get("toolchain", {}).get("channel")
        if channel:
            return str(channel)
    plain = checkout / "rust-toolchain"
    if plain.is_file() and plain.read_text().strip():
        return plain.read_text().strip().splitlines()[0]
    return "stable"


def rust(ctx: Context) -> None:
    """Install rustup if missing, and the Rust toolchain the checkout pins."""
    checkout = repo(ctx)
    channel = rust_channel(checkout)
    rustup = shutil.which("rustup") or str(CARGO_BIN / "rustup")
    if ctx.probe([rustup, "--version"]).returncode != 0:
        ctx.run(
            [
                "sh",
                "-c",
                "curl --proto =https --tlsv1.2 -fsSL --max-time 120 "
                "https://sh.rustup.rs | sh -s -- -y --profile minimal "
                "--default-toolchain none",
            ],
            "install rustup",
        )
    listed = ctx.probe([rustup, "toolchain", "list"]).stdout
    if not any(line.startswith(channel) for line in listed.splitlines()):
        ctx.run(
            [rustup, "toolchain", "install", channel, "--profile", "minimal"],
            f"install Rust {channel} (pinned by the checkout)",
            cwd=checkout,
        )
    else:
        ctx.note(f"Rust {channel} installed")
    # `--default-toolchain none` leaves cargo unusable outside the checkout (and for
    # tools that run from elsewhere, like maturin's own probes): give rustup a default.
    default = ctx.probe([rustup, "default"])
    if default.returncode != 0 or "no default" in (default.stdout + default.stderr):
        ctx.run([rustup, "default", channel], f"make Rust {channel} rustup's default")
    ctx.facts["rust"] = channel


def go_version(checkout: Path) -> str:
    """Go version apps/runner/go.mod asks for: `toolchain goX.Y.Z` wins over `go X.Y[.Z]`."""
    text = (checkout / "apps/runner/go.mod").read_text()
    toolchain = re.search(r"^toolchain\s+go(\d+\.\d+(?:\.\d+)?)\s*$", text, re.M)
    directive = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", text, re.M)
    found = toolchain or directive
    if not found:
        raise ValueError("apps/runner/go.mod has no `go` directive")
    version = found.group(1)
    return version if version.count(".") == 2 else version + ".0"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def go(ctx: Context) -> None:
    """Install the Go apps/runner/go.mod asks for into GO_ROOT unless a new enough one is there;
    the tarball is checked against go.dev's sha256."""
    checkout = repo(ctx)
    try:
        want = go_version(checkout)
    except (OSError, ValueError) as exc:
        ctx.fail(f"cannot read the Go version: {exc}")
        return
    gobin = GO_ROOT / "bin/go"
    env = dict(os.environ, GOTOOLCHAIN="local")  # never let `go` download another Go
    have = ctx.probe([str(gobin), "env", "GOVERSION"], env=env, cwd=Path("/"))
    have_v = have.stdout.strip().removeprefix("go") if have.returncode == 0 else ""
    ctx.facts["go"] = want
    if have_v and _version_tuple(have_v) >= _version_tuple(want):
        ctx.note(f"Go {have_v} >= {want} (apps/runner/go.mod)")
        return
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    tarball = f"go{want}.linux-{arch}.tar.gz"
    # The checksum comes from go.dev's own release index and is verified before unpacking.
    script = (
        "set -euo pipefail; tmp=$(mktemp -d); trap 'rm -rf \"$tmp\"' EXIT; "
        f'curl -fsSL --max-time 300 -o "$tmp/go.tgz" https://go.dev/dl/{tarball}; '
        "sum=$(curl -fsSL --max-time 60 'https://go.dev/dl/?mode=json&include=all' | "
        f'python3 -c \'import json,sys; print(next(f["sha256"] for r in json.load(sys.stdin) '
        f'for f in r["files"] if f["filename"]=="{tarball}"))\'); '
        'echo "$sum  $tmp/go.tgz" | sha256sum -c --quiet; '
        f'rm -rf {GO_ROOT}; tar -C {GO_ROOT.parent} -xzf "$tmp/go.tgz"'
    )
    ctx.run(
        ["bash", "-c", script],
        f"install Go {want} into {GO_ROOT} (was {have_v or 'none'})",
        show=f"download+verify {tarball} -> {GO_ROOT}",
    )


# --- builds --------------------------------------------------------------------------------


def builds_file(ctx: Context) -> Path:
    """builds.json: what each component was last built from, so an unchanged one is not rebuilt."""
    return ctx.layout.config_dir / "builds.json"


def source_state(ctx: Context, checkout: Path) -> dict[str, str]:
    """HEAD and a hash of every uncommitted change (untracked contents included)."""
    return cloud_build.source_state(checkout, ctx.probe)


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_builds(ctx: Context) -> dict:
    """What the last builds recorded (builds.json); empty when none or unreadable."""
    try:
        return json.loads(builds_file(ctx).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _record_build(ctx: Context, key: str, entry: dict) -> None:
    builds = load_builds(ctx) | {key: entry}
    ctx.write(
        builds_file(ctx),
        json.dumps(builds, indent=2, sort_keys=True) + "\n",
        f"record the {key} build",
    )


def tool_env() -> dict[str, str]:
    """PATH with the toolchains this module installs first, and Go held to that version."""
    path = f"{GO_ROOT / 'bin'}:{CARGO_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"PATH": path, "GOTOOLCHAIN": "local"}


def _tool_env() -> dict[str, str]:
    return dict(os.environ, **tool_env())


def _run_steps(ctx: Context, steps: list[cloud_build.Step]) -> None:
    base = _tool_env()
    for step in steps:
        ctx.run(step.argv, step.what, cwd=step.cwd, env=cloud_build.step_env(step, base))


def hand_back(ctx: Context, checkout: Path) -> None:
    """Give what a root bootstrap built inside the checkout (target/, node_modules, staged
    libraries, daemon assets, a seeded yarn.lock) back to the checkout's owner: root-owned
    build output breaks the owner's next build and the next CI checkout (issue 13 M3).
    Only root-owned files change hands (`--from=0:0`); nothing else in the tree moves."""
    try:
        st = checkout.stat()
    except OSError:
        return
    if os.geteuid() != 0 or st.st_uid == 0:
        return
    ctx.run(
        ["chown", "-R", "--from=0:0", f"{st.st_uid}:{st.st_gid}", str(checkout)],
        "hand build output back to the checkout's owner",
    )


def build(ctx: Context) -> None:
    """Runtime, libboxlite.a and the CGO Go runner from --repo, per its era; installed."""
    checkout = repo(ctx)
    co = _checkout_or_fail(ctx)
    if co is None:
        return
    state = source_state(ctx, checkout)
    binary = ctx.layout.bin_dir / RUNNER_BINARY
    recorded = load_builds(ctx).get("runner", {})
    link = {"mode": co.go_link.mode, "library": co.go_link.library, "tags": list(co.go_link.tags)}
    if (
        recorded.get("source") == state
        and recorded.get("sha256") == _sha256(binary)
        and recorded.get("go_link") == link
    ):
        ctx.note(f"runner at {state['sha'][:12]} already built and installed")
        ctx.facts["runner_build"] = recorded
        return
    out = ctx.layout.state_dir / "build/boxlite-runner"
    _run_steps(ctx, cloud_build.runner_plan(co, out))
    hand_back(ctx, checkout)
    ctx.run(["install", "-D", "-m", "0755", str(out), str(binary)], f"install {binary}")
    entry = {
        "source": state,
        "sha256": _sha256(binary) or "<dry-run>",
        "go_link": link,
        "libboxlite_sha256": _sha256(checkout / co.go_link.library) or "<dry-run>",
    }
    _record_build(ctx, "runner", entry)
    ctx.facts["runner_build"] = entry


def api(ctx: Context) -> None:
    """The API from source: its dependencies (the Yarn the checkout pins) and apps/apps."""
    checkout = repo(ctx)
    co = _checkout_or_fail(ctx)
    if co is None:
        return
    apps = checkout / "apps"
    manifests = [apps / "package.json", apps / "yarn.lock", apps / ".yarnrc.yml"]
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in manifests if p.is_file())).hexdigest()
    steps = cloud_build.api_plan(co)
    if load_builds(ctx).get("api", {}).get("deps") != stamp or not (apps / "node_modules").is_dir():
        _run_steps(ctx, [s for s in steps if s.what != "api workspace self-link"])
        hand_back(ctx, checkout)
        _record_build(ctx, "api", {"deps": stamp, "source": source_state(ctx, checkout)})
    else:
        ctx.note("API dependencies unchanged")
    link = apps / "apps"
    if not link.is_symlink() and ctx.change(f"link {link} -> ."):
        link.symlink_to(".")


def sdk(ctx: Context) -> None:
    """The Python SDK from the checkout (maturin, via pip); PyPI only with --sdk-from-pypi.

    The record names the venv it went into (cloud_build.venv_identity): a re-created venv
    holds the PyPI wheel again, so the checkout's SDK is rebuilt (issue 13 M2).
    """
    checkout = repo(ctx)
    pip = [ctx.python, "-m", "pip", "install", "-q"]
    recorded = load_builds(ctx).get("sdk", {})
    venv = cloud_build.venv_identity()
    if ctx.options.sdk_from_pypi:
        pin = _pyproject_pin()
        if recorded.get("from") != f"pypi {pin}" or recorded.get("venv") != venv:
            ctx.run(
                [*pip, "--force-reinstall", pin], "install the SDK from PyPI (explicit fallback)"
            )
            _record_build(ctx, "sdk", {"from": f"pypi {pin}", "venv": venv})
        ctx.facts["sdk"] = f"PyPI {pin} (fallback requested with --sdk-from-pypi)"
        return
    state = source_state(ctx, checkout)
    if recorded.get("source") == state and recorded.get("venv") == venv:
        ctx.note(f"SDK from the checkout at {state['sha'][:12]} installed in this venv")
    else:
        ctx.run(
            [*pip, "--force-reinstall", "--no-deps", str(checkout / "sdks/python")],
            "build and install the SDK from the checkout (maturin)",
            env=_tool_env(),
        )
        _record_build(ctx, "sdk", {"from": "checkout", "source": state, "venv": venv})
    ctx.facts["sdk"] = f"checkout {state['sha'][:12]}{'+dirty' if state['dirty'] else ''}"


def _pyproject_pin() -> str:
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if d.startswith("boxlite"))


def cloud_services(ctx: Context) -> None:
    """The API (ts-node, env file) and the runner binary as services."""
    checkout = repo(ctx)
    layout = ctx.layout
    runner_bin = layout.bin_dir / RUNNER_BINARY
    build_id = (load_builds(ctx).get("runner", {}).get("sha256") or "none")[:16]
    services = [
        Service(
            API,
            (
                "npx",
                "ts-node",
                "--transpile-only",
                "-r",
                "tsconfig-paths/register",
                "--project",
                "api/tsconfig.app.json",
                "api/src/main.ts",
            ),
            "BoxLite API (NestJS via ts-node, from the checkout)",
            env={
                "BOXLITE_E2E_SOURCE": "{sha}{dirty}".format(**source_state(ctx, checkout)),
                "BOXLITE_E2E_ENV": fingerprint([layout.env_file]),
            },
            env_file=layout.env_file,
            workdir=checkout / "apps",
            log_file=layout.api_log,
            after=(POSTGRES, REDIS),
        ),
        Service(
            RUNNER,
            (str(runner_bin),),
            "BoxLite runner (Go + libboxlite.a, from the checkout)",
            env={
                "BOXLITE_E2E_BUILD": build_id,
                "BOXLITE_E2E_ENV": fingerprint([layout.runner_env_file]),
            },
            env_file=layout.runner_env_file,
            workdir=layout.state_dir,
            log_file=None if ctx.manager.kind == "systemd" else layout.runner_log,
            after=(API,),
        ),
    ]
    if not layout.state_dir.is_dir() and ctx.change(f"create {layout.state_dir}"):
        layout.state_dir.mkdir(parents=True)
    port_conflict(ctx, layout.api_port, API)
    port_conflict(ctx, layout.runner_port, RUNNER)
    ctx.sync_services(services)
