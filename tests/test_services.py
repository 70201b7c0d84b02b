"""lib.stack.services: config rendering for both backends, and a real supervisord in a temp root."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from lib.layout import Layout
from lib.names import REPO_ROOT
from lib.stack.services import (
    Service,
    ServiceError,
    SupervisorManager,
    SystemdManager,
    manager_for,
)

pytestmark = pytest.mark.timeout(120)

SLEEPER = Service("boxlite-sleeper", ("/bin/sleep", "600"), "test sleeper")


def _last_arg(pid: int, expected: str, timeout: float = 10.0) -> str:
    """The service's last argv word once it has exec'd.

    With startsecs=0 supervisord reports RUNNING (and the pid) as soon as it
    forks, so for a moment the child still carries supervisord's own argv;
    CI once read it in that window.
    """
    deadline = time.monotonic() + timeout
    word = psutil.Process(pid).cmdline()[-1]
    while word != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        word = psutil.Process(pid).cmdline()[-1]
    return word


def test_service_names_carry_the_prefix():
    with pytest.raises(ValueError, match="boxlite-"):
        Service("api", ("/bin/true",), "x")


def test_supervisor_program_escapes_percent_and_wraps_env_files(tmp_path):
    svc = Service(
        "boxlite-x",
        ("/bin/echo", "100%", "two words"),
        "demo",
        env={"A": "1%"},
        env_file=tmp_path / "secret.env",
        user="nobody",
    )
    text = SupervisorManager(Layout(root=tmp_path)).render(svc)
    assert "command=" in text and "100%%" in text and "'two words'" in text
    # Secrets stay in the env file: the program is started through `lib.stack.envfile exec`.
    assert f"-m lib.stack.envfile exec {tmp_path / 'secret.env'} -- /bin/echo" in text
    assert 'A="1%%"' in text and "user=nobody" in text
    assert f"stdout_logfile={tmp_path / 'var/log/boxlite-x.log'}" in text


def test_systemd_unit_quotes_args_and_logs_to_the_journal_by_default(tmp_path):
    svc = Service(
        "boxlite-x",
        ("/bin/echo", "a b", "$HOME", "50%"),
        "demo",
        env_file=tmp_path / "e.env",
        after=("boxlite-api",),
    )
    unit = SystemdManager(Layout(root=tmp_path)).render(svc)
    assert 'ExecStart="/bin/echo" "a b" "$$HOME" "50%%"' in unit
    assert f"EnvironmentFile={tmp_path / 'e.env'}" in unit
    assert "After=network.target boxlite-api.service" in unit
    assert "StandardOutput" not in unit  # journald
    logged = SystemdManager(Layout(root=tmp_path)).render(
        Service("boxlite-y", ("/bin/true",), "d", log_file=Path("/var/log/y.log"))
    )
    assert "StandardOutput=append:/var/log/y.log" in logged


def test_manager_choice(tmp_path):
    temp_root = Layout(root=tmp_path)
    assert manager_for(temp_root, {}).kind == "supervisor"  # never systemd for a temp root
    assert manager_for(temp_root, {"BOXLITE_E2E_SERVICES": "systemd"}).kind == "systemd"
    with pytest.raises(ServiceError, match="expected systemd or supervisor"):
        manager_for(temp_root, {"BOXLITE_E2E_SERVICES": "runit"})


@pytest.fixture
def short_root():
    # pytest's tmp paths (with xdist) can exceed the 107 bytes a unix socket path allows.
    root = Path(tempfile.mkdtemp(prefix="bxe-svc-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_too_long_a_root_is_a_clear_error(tmp_path):
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ServiceError, match="shorter BOXLITE_E2E_ROOT"):
        SupervisorManager(Layout(root=deep)).ensure_daemon()


@pytest.fixture
def manager(short_root):
    manager = SupervisorManager(Layout(root=short_root))
    try:
        yield manager
    finally:
        daemon = manager.daemon_pid()
        manager.remove(manager.installed())
        manager.shutdown_if_idle()
        if daemon and psutil.pid_exists(daemon):  # safety net for a failed test
            psutil.Process(daemon).kill()


@pytest.mark.stack  # a real supervisord
def test_supervisor_sync_is_idempotent_and_restarts_only_on_change(manager):
    assert manager.sync([SLEEPER]) == {"boxlite-sleeper": "installed"}
    pid = manager.pid("boxlite-sleeper")
    assert pid and _last_arg(pid, "600") == "600"

    assert manager.sync([SLEEPER]) == {"boxlite-sleeper": "unchanged"}
    assert manager.pid("boxlite-sleeper") == pid
    assert manager.plan([SLEEPER]) == {"boxlite-sleeper": "unchanged"}

    changed = Service("boxlite-sleeper", ("/bin/sleep", "601"), "test sleeper")
    assert manager.plan([changed]) == {"boxlite-sleeper": "rewrite config and restart"}
    assert manager.sync([changed]) == {"boxlite-sleeper": "restarted (config changed)"}
    new_pid = manager.pid("boxlite-sleeper")
    assert new_pid != pid and _last_arg(new_pid, "601") == "601"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    manager.stop("boxlite-sleeper")
    assert manager.status("boxlite-sleeper") == "stopped"
    assert manager.sync([changed]) == {"boxlite-sleeper": "started (was stopped)"}
    assert manager.status("boxlite-sleeper") == "running"


@pytest.mark.stack  # a real supervisord
def test_remove_and_shutdown_leave_no_process(manager):
    manager.sync([SLEEPER])
    procs = [psutil.Process(manager.daemon_pid()), psutil.Process(manager.pid("boxlite-sleeper"))]
    assert manager.remove(["boxlite-sleeper"]) == ["boxlite-sleeper"]
    assert manager.shutdown_if_idle() is True
    _, alive = psutil.wait_procs(procs, timeout=10)
    assert not alive
    assert manager.status("boxlite-sleeper") == "absent"
    assert not manager.conf.exists()


@pytest.mark.stack  # a real supervisord
def test_cli_restart_and_status(manager, short_root):
    manager.sync([SLEEPER])
    pid = manager.pid("boxlite-sleeper")
    env = {"BOXLITE_E2E_ROOT": str(short_root), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "lib.stack.services"]
    done = subprocess.run(
        [*cli, "restart", "boxlite-sleeper"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert manager.pid("boxlite-sleeper") not in (None, pid)
    status = subprocess.run(
        [*cli, "status", "boxlite-sleeper", "boxlite-nope"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert status.returncode == 3
    assert "boxlite-sleeper running (supervisor)" in status.stdout
    assert "boxlite-nope absent" in status.stdout
