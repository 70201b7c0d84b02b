"""Bootstrap steps of the cloud stack: real BoxLite built from a checkout (`--repo`).

For KVM hosts (a microVM per box); complete even where it cannot run, and its whole plan is
checked with `--dry-run` against a fake checkout. What differs from upstream (§2, §12):

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

from lib.names import RUNNER_BINARY
from lib.stack.bootstrap.cloud_data import POSTGRES, REDIS
from lib.stack.bootstrap.common import API, RUNNER, fingerprint, port_conflict
from lib.stack.bootstrap.context import HARNESS_DIR, Context
from lib.stack.services import Service
from lib.tomlcompat import tomllib

NODE_MAJOR = 22
GO_ROOT = Path("/usr/local/go")
CARGO_BIN = Path.home() / ".cargo/bin"


def repo(ctx: Context) -> Path:
    path = ctx.options.repo
    if path is None:
        ctx.fail("the cloud stack needs --repo PATH (a BoxLite checkout)")
        return Path("/nonexistent")
    if not (path / "apps/runner/go.mod").is_file():
        ctx.fail(f"{path} does not look like a BoxLite checkout (no apps/runner/go.mod)")
    return path


def kvm(ctx: Context) -> None:
    """A usable /dev/kvm: boxes are microVMs."""
    dev = Path(ctx.env.get("BOXLITE_E2E_KVM_DEVICE", "/dev/kvm"))
    if not dev.exists():
        ctx.fail(f"{dev} does not exist: the cloud stack needs a (nested-)KVM host")
    elif not os.access(dev, os.R_OK | os.W_OK):
        ctx.fail(f"{dev} is not readable and writable by uid {os.geteuid()} (kvm group?)")
    else:
        ctx.note(f"{dev} usable")


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
    return ctx.layout.config_dir / "builds.json"


def source_state(ctx: Context, checkout: Path) -> dict[str, str]:
    """HEAD and a hash of uncommitted changes: what a build was made from."""
    head = ctx.probe(["git", "-C", str(checkout), "rev-parse", "HEAD"])
    diff = ctx.probe(["git", "-C", str(checkout), "diff", "HEAD", "--binary"])
    untracked = ctx.probe(
        ["git", "-C", str(checkout), "ls-files", "--others", "--exclude-standard"]
    )
    dirty = diff.stdout + untracked.stdout
    return {
        "sha": head.stdout.strip() if head.returncode == 0 else "unknown (not a git checkout)",
        "dirty": hashlib.sha256(dirty.encode()).hexdigest()[:16] if dirty.strip() else "",
    }


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


def build(ctx: Context) -> None:
    """libboxlite.a (boxlite-c) and the CGO Go runner from --repo, installed to bin_dir."""
    checkout = repo(ctx)
    state = source_state(ctx, checkout)
    binary = ctx.layout.bin_dir / RUNNER_BINARY
    recorded = load_builds(ctx).get("runner", {})
    if recorded.get("source") == state and recorded.get("sha256") == _sha256(binary):
        ctx.note(f"runner at {state['sha'][:12]} already built and installed")
        ctx.facts["runner_build"] = recorded
        return
    env = _tool_env()
    ctx.run(
        ["cargo", "build", "--release", "-p", "boxlite-c"],
        "build libboxlite.a",
        cwd=checkout,
        env=env,
    )
    ctx.run(
        [
            "install",
            "-m",
            "0644",
            str(checkout / "target/release/libboxlite.a"),
            str(checkout / "sdks/go/libboxlite.a"),
        ],
        "hand libboxlite.a to the Go SDK",
    )
    out = ctx.layout.state_dir / "build/boxlite-runner"
    ctx.run(
        ["go", "build", "-o", str(out), "./cmd/runner"],
        "build the Go runner (CGO)",
        cwd=checkout / "apps/runner",
        env=env | {"CGO_ENABLED": "1"},
    )
    ctx.run(["install", "-D", "-m", "0755", str(out), str(binary)], f"install {binary}")
    entry = {"source": state, "sha256": _sha256(binary) or "<dry-run>"}
    _record_build(ctx, "runner", entry)
    ctx.facts["runner_build"] = entry


def api(ctx: Context) -> None:
    """The API from source: yarn install in apps/ when its manifests changed; apps/apps link."""
    checkout = repo(ctx)
    apps = checkout / "apps"
    manifests = [apps / "package.json", apps / "yarn.lock"]
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in manifests if p.is_file())).hexdigest()
    if load_builds(ctx).get("api", {}).get("deps") != stamp or not (apps / "node_modules").is_dir():
        ctx.run(
            ["yarn", "install", "--frozen-lockfile", "--non-interactive"],
            "install the API's dependencies",
            cwd=apps,
        )
        _record_build(ctx, "api", {"deps": stamp, "source": source_state(ctx, checkout)})
    else:
        ctx.note("API dependencies unchanged")
    link = apps / "apps"
    # The API's project.json names paths as apps/api/...; upstream's self-link, kept.
    if not link.is_symlink() and ctx.change(f"link {link} -> ."):
        link.symlink_to(".")


def sdk(ctx: Context) -> None:
    """The Python SDK from the checkout (maturin, via pip); PyPI only with --sdk-from-pypi."""
    checkout = repo(ctx)
    pip = [ctx.python, "-m", "pip", "install", "-q"]
    recorded = load_builds(ctx).get("sdk", {})
    if ctx.options.sdk_from_pypi:
        pin = _pyproject_pin()
        if recorded.get("from") != f"pypi {pin}":
            ctx.run(
                [*pip, "--force-reinstall", pin], "install the SDK from PyPI (explicit fallback)"
            )
            _record_build(ctx, "sdk", {"from": f"pypi {pin}"})
        ctx.facts["sdk"] = f"PyPI {pin} (fallback requested with --sdk-from-pypi)"
        return
    state = source_state(ctx, checkout)
    if recorded.get("source") == state:
        ctx.note(f"SDK from the checkout at {state['sha'][:12]} installed")
    else:
        ctx.run(
            [*pip, "--force-reinstall", "--no-deps", str(checkout / "sdks/python")],
            "build and install the SDK from the checkout (maturin)",
            env=_tool_env(),
        )
        _record_build(ctx, "sdk", {"from": "checkout", "source": state})
    ctx.facts["sdk"] = f"checkout {state['sha'][:12]}{'+dirty' if state['dirty'] else ''}"


def _pyproject_pin() -> str:
    deps = tomllib.loads((HARNESS_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
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
