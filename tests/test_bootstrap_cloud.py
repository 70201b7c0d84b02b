"""bootstrap.sh --stack cloud: the data steps for real, the whole plan by --dry-run.

No KVM host or BoxLite checkout is needed: Postgres, Redis and the registry run for real in a
temporary root on free ports (`--only`), and the full plan is checked against a minimal fake
checkout, where `--dry-run` must show every build and install and change nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from lib.stack import secrets
from lib.stack.preflight import check_kvm
from tests.boxlite_eras import make_checkout
from tests.stack_helpers import REPO, TempStack, listening_addresses

pytestmark = pytest.mark.timeout(300)
DATA_STEPS = "registry,postgres,redis"


@pytest.fixture(scope="module")
def stack(make_stack):
    return make_stack(bootstrap=False)


def _redis(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(256)


def test_data_steps_run_for_real_and_are_idempotent(stack):
    cold = stack.run("bootstrap.sh", "--stack", "cloud", "--only", DATA_STEPS)
    assert cold.returncode == 0, cold.stdout + cold.stderr
    assert "initialise the cluster" in cold.stdout and "create role boxlite" in cold.stdout
    layout = stack.layout

    # The role logs in over TCP with the minted password (never the upstream literal).
    password = secrets.load(layout.secrets_file)["DB_PASSWORD"]
    login = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(layout.postgres_port),
            "-U",
            "boxlite",
            "-d",
            "boxlite_dev",
            "-tAc",
            "SELECT current_user",
        ],
        env=dict(os.environ, PGPASSWORD=password),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert login.returncode == 0 and login.stdout.strip() == "boxlite", login.stderr
    assert password not in cold.stdout + cold.stderr
    assert _redis(layout.redis_port, b"PING\r\n").startswith(b"+PONG")

    warm = stack.run("bootstrap.sh", "--stack", "cloud", "--only", DATA_STEPS)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert "no changes" in warm.stdout, warm.stdout


def test_data_services_listen_on_loopback_only(stack):
    addresses = listening_addresses(stack.processes())
    layout = stack.layout
    ports = {port for _, port in addresses}
    assert {layout.postgres_port, layout.redis_port, layout.registry_port} <= ports
    assert {ip for ip, _ in addresses} <= {"127.0.0.1", "::1"}, addresses


def test_wipe_data_drops_the_database(stack):
    assert stack.run("teardown.sh", "--wipe-data").returncode == 0
    assert not stack.layout.postgres_dir.exists()
    again = stack.run("bootstrap.sh", "--stack", "cloud", "--only", "postgres")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "initialise the cluster" in again.stdout and "create boxlite_dev" in again.stdout


# --- the full plan -------------------------------------------------------------------------


@pytest.fixture
def fake_checkout(tmp_path):
    """The files bootstrap reads from a BoxLite checkout, and nothing else."""
    # The newest upstream era's layout (tests/boxlite_eras.py), with go.mod's toolchain line.
    repo = make_checkout(tmp_path / "boxlite", "catalog")
    (repo / "apps/runner/go.mod").write_text(
        "module github.com/boxlite-ai/boxlite/apps/runner\n\ngo 1.22\n\ntoolchain go1.99.1\n"
    )
    (repo / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "1.77.7"\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.email=t@e",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "fake",
        ],
        check=True,
    )
    return repo


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def empty_root():
    # Enterable by the `postgres` user, or the plan would (rightly) report a blocker.
    root = Path(tempfile.mkdtemp(prefix="boxlite-e2e-dry-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_full_cloud_plan_by_dry_run_changes_nothing(stack, fake_checkout, empty_root):
    root = empty_root
    # Its own root and free ports (the module's stack holds the others).
    fresh = TempStack.create()
    shutil.rmtree(fresh.root)
    env = dict(fresh.env, BOXLITE_E2E_ROOT=str(root))
    repo_before = _tree(fake_checkout)
    done = subprocess.run(
        [str(REPO / "bootstrap.sh"), "--stack", "cloud", "--repo", str(fake_checkout), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    steps = [
        "checkout",
        "packages",
        "kvm",
        "secrets",
        "env",
        "registry",
        "postgres",
        "redis",
        "node",
        "rust",
        "go",
        "build",
        "api",
        "sdk",
        "node_sdk",
        "go_driver",
        "services",
        "health",
        "smoke",
        "summary",
    ]
    positions = [out.find(f"] {step}: ") for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), out
    expected = [
        "would mint ADMIN_API_KEY",
        "initialise the cluster",
        "would ensure role boxlite and database boxlite_dev",
        "Redis config",
        "install Go 1.99.1",  # the toolchain line of apps/runner/go.mod wins
        "install Rust 1.77.7 (pinned by the checkout)",
        "era catalog/prebuilt/yarn4/embed",
        "submodules: git submodule update --init --recursive",
        "guest rust target: rustup target add",
        "libkrunfw): bash scripts/build/build-runtime.sh --profile release",
        "cargo build --release -p boxlite-c",
        "localise Go runtime symbols: bash scripts/build/fix-go-symbols.sh",
        f"{fake_checkout / 'sdks/go/lib/linux-x64-gnu/libboxlite.a'}",
        "the Go SDK links this build: cmp",
        "runner daemon asset: go build -o",
        "go build -o",
        "./cmd/runner",
        f"api dependencies: yarn install --immutable (in {fake_checkout / 'apps'})",
        f"{fake_checkout / 'apps/apps'} -> .",
        f"--no-deps {fake_checkout / 'sdks/python'}",
        f"npm run build:native -- --release (in {fake_checkout / 'sdks/node'})",
        f"npm install --no-save --no-audit --no-fund {fake_checkout / 'sdks/node'}",
        f"go mod edit -replace=github.com/boxlite-ai/boxlite/sdks/go={fake_checkout / 'sdks/go'}",
        "Go driver: go build -tags boxlite_rest_options -o",
        "boxlite-e2e-go-driver",
        "boxlite-api: would install and start",
        "boxlite-runner: would install and start",
    ]
    for line in expected:
        assert line in out, f"{line!r} missing from the plan:\n{out}"
    kvm_ok = check_kvm(Path("/dev/kvm")).status != "FAIL"  # open + KVM_CREATE_VM
    assert done.returncode == (0 if kvm_ok else 1), out + done.stderr
    if not kvm_ok:
        assert "a real run would stop at:" in out and "/dev/kvm" in out
    else:
        assert "KVM_CREATE_VM works" in out
    # A dry run changes nothing: not the root, not the checkout.
    assert list(root.iterdir()) == []
    assert _tree(fake_checkout) == repo_before


def test_cloud_without_a_checkout_is_one_clear_error(stack, tmp_path):
    run = stack.run("bootstrap.sh", "--stack", "cloud", "--only", "go", "--repo", str(tmp_path))
    assert run.returncode == 1
    assert "does not look like a BoxLite checkout" in run.stdout
