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
    repo = tmp_path / "boxlite"
    files = {
        "apps/runner/go.mod": "module github.com/boxlite-ai/boxlite/apps/runner\n\ngo 1.22\n\n"
        "toolchain go1.99.1\n",
        "apps/runner/cmd/runner/main.go": "package main\nfunc main() {}\n",
        "rust-toolchain.toml": '[toolchain]\nchannel = "1.77.7"\n',
        "Cargo.toml": '[workspace]\nmembers = ["sdks/c"]\n',
        "apps/package.json": '{"name": "apps", "private": true}\n',
        "apps/yarn.lock": "",
        "apps/api/src/main.ts": "",
        "apps/api/tsconfig.app.json": "{}\n",
        "sdks/python/pyproject.toml": '[build-system]\nrequires = ["maturin"]\n',
        "sdks/go/go.mod": "module x\n",
    }
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
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
        "cargo build --release -p boxlite-c",
        "go build -o",
        "./cmd/runner",
        f"install the API's dependencies: yarn install --frozen-lockfile --non-interactive "
        f"(in {fake_checkout / 'apps'})",
        f"{fake_checkout / 'apps/apps'} -> .",
        f"--no-deps {fake_checkout / 'sdks/python'}",
        "boxlite-api: would install and start",
        "boxlite-runner: would install and start",
    ]
    for line in expected:
        assert line in out, f"{line!r} missing from the plan:\n{out}"
    kvm_ok = os.access("/dev/kvm", os.R_OK | os.W_OK)
    assert done.returncode == (0 if kvm_ok else 1), out + done.stderr
    if not kvm_ok:
        assert "a real run would stop at: /dev/kvm" in out
    # A dry run changes nothing: not the root, not the checkout.
    assert list(root.iterdir()) == []
    assert _tree(fake_checkout) == repo_before


def test_cloud_without_a_checkout_is_one_clear_error(stack, tmp_path):
    run = stack.run("bootstrap.sh", "--stack", "cloud", "--only", "go", "--repo", str(tmp_path))
    assert run.returncode == 1
    assert "does not look like a BoxLite checkout" in run.stdout
