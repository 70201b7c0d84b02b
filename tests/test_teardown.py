"""teardown.sh: each mode leaves exactly what it promises, is idempotent, stays in its root."""

from __future__ import annotations

import psutil
import pytest

from tests.stack_helpers import TempStack

pytestmark = pytest.mark.timeout(300)


def _tree(stack: TempStack) -> set[str]:
    return {str(p.relative_to(stack.root)) for p in stack.root.rglob("*")}


@pytest.fixture
def stack(make_stack):
    stack = make_stack()
    # Things teardown must never touch: a sibling of the root, and a file in the root's etc.
    stack.outside = stack.root.parent / f"{stack.root.name}.sentinel"
    stack.outside.write_text("keep")
    stack.foreign = stack.layout.etc_dir / "someone-elses.conf"
    stack.foreign.write_text("keep")
    try:
        yield stack
    finally:
        stack.outside.unlink(missing_ok=True)
        stack.close()  # at once: the module's factory would keep it until the module ends


def test_teardown_modes_remove_exactly_what_they_promise(stack):
    layout = stack.layout
    procs = stack.processes()
    assert procs, "bootstrap left no supervised processes to stop"

    basic = stack.run("teardown.sh")
    assert basic.returncode == 0, basic.stdout + basic.stderr
    psutil.wait_procs(procs, timeout=30)
    assert not any(p.is_running() for p in procs), "a service survived teardown"
    for gone in (layout.env_file, layout.runner_env_file, layout.config_dir, layout.run_dir):
        assert not gone.exists(), gone
    for kept in (
        layout.secrets_file,
        layout.state_dir,
        layout.registry_dir,
        layout.api_log,
        layout.runner_log,
        stack.foreign,
        stack.outside,
    ):
        assert kept.exists(), kept
    assert "kept: data, secrets, logs" in basic.stdout

    tree = _tree(stack)
    again = stack.run("teardown.sh")
    assert again.returncode == 0 and "nothing left to remove" in again.stdout, again.stdout
    assert _tree(stack) == tree

    wipe = stack.run("teardown.sh", "--wipe-data")
    assert wipe.returncode == 0, wipe.stdout + wipe.stderr
    assert not layout.state_dir.exists()
    assert layout.secrets_file.exists() and layout.api_log.exists()

    full = stack.run("teardown.sh", "--full")
    assert full.returncode == 0, full.stdout + full.stderr
    assert not layout.secrets_file.exists()
    assert layout.api_log.exists() and stack.foreign.exists() and stack.outside.exists()
    assert "kept: logs" in full.stdout


def test_rebootstrap_after_basic_teardown_keeps_data_and_secrets(stack):
    before = stack.layout.secrets_file.read_text()
    assert stack.run("teardown.sh").returncode == 0
    again = stack.run("bootstrap.sh", "--stack", "standin")
    assert again.returncode == 0, again.stdout + again.stderr
    assert stack.layout.secrets_file.read_text() == before
    assert "minted" not in again.stdout
    assert "/v1/me ok" in again.stdout  # the API still accepts the kept admin key


def test_teardown_rejects_two_modes(stack):
    run = stack.run("teardown.sh", "--wipe-data", "--full")
    assert run.returncode == 2 and "not allowed with" in run.stderr
    assert stack.layout.config_dir.exists()  # nothing happened
