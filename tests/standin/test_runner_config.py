"""Start-up of `python -m standin runner`: token sources, refusals, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from standin.runner.config import TOKEN_VAR, ConfigError, resolve
from tests.standin.runner_fixtures import REPO, start_runner

pytestmark = pytest.mark.timeout(60)


def _resolve(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    return resolve(["--state-dir", str(tmp_path), *args], env if env is not None else {})


def test_token_comes_from_the_environment(tmp_path):
    config = _resolve(tmp_path, env={TOKEN_VAR: "from-env"})
    assert config.token == "from-env"
    assert "from-env" not in repr(config)


def test_token_comes_from_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "runner.env"
    env_file.write_text(f"# comment\n{TOKEN_VAR}=from-file\nOTHER=x\n")
    assert _resolve(tmp_path, "--env-file", str(env_file)).token == "from-file"
    both = _resolve(tmp_path, "--env-file", str(env_file), env={TOKEN_VAR: "from-env"})
    assert both.token == "from-env"


def test_no_token_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=TOKEN_VAR):
        _resolve(tmp_path)
    empty = tmp_path / "empty.env"
    empty.write_text("OTHER=1\n")
    with pytest.raises(ConfigError, match=TOKEN_VAR):
        _resolve(tmp_path, "--env-file", str(empty))


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_non_loopback_host_is_refused(tmp_path, host):
    with pytest.raises(ConfigError, match="loopback"):
        _resolve(tmp_path, "--host", host, env={TOKEN_VAR: "t"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(tmp_path, host):
    assert _resolve(tmp_path, "--host", host, env={TOKEN_VAR: "t"}).host == host


def test_unknown_fault_is_refused_naming_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown fault 'no-such-fault'.*exec-stdout-drop"):
        _resolve(tmp_path, "--fault", "no-such-fault", env={TOKEN_VAR: "t"})


def test_api_side_fault_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="quota-clamp.*API"):
        _resolve(tmp_path, "--fault", "quota-clamp", env={TOKEN_VAR: "t"})


def test_faults_parse_with_probability(tmp_path):
    config = _resolve(
        tmp_path,
        "--fault",
        "exec-stdout-drop=0.25",
        "--fault",
        "attach-no-replay",
        env={TOKEN_VAR: "t"},
    )
    assert config.faults["exec-stdout-drop"].probability == 0.25
    assert set(config.faults) == {"exec-stdout-drop", "attach-no-replay"}


def test_image_dir_must_be_a_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        _resolve(tmp_path, "--image-dir", f"x:y={tmp_path / 'missing'}", env={TOKEN_VAR: "t"})
    config = _resolve(tmp_path, "--image-dir", f"x:y={tmp_path}", env={TOKEN_VAR: "t"})
    assert config.image_dirs == {"x:y": tmp_path.resolve()}


def _run_runner(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if k != TOKEN_VAR} | env
    return subprocess.run(
        [sys.executable, "-m", "standin", "runner", *args],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_process_without_token_exits_2_with_a_clear_message(tmp_path):
    done = _run_runner("--state-dir", str(tmp_path), "--port", "0", env={})
    assert done.returncode == 2
    assert f"no token: set {TOKEN_VAR}" in done.stderr


def test_process_with_unknown_fault_exits_2_with_a_clear_message(tmp_path):
    done = _run_runner(
        "--state-dir", str(tmp_path), "--port", "0", "--fault", "nope", env={TOKEN_VAR: "t"}
    )
    assert done.returncode == 2
    assert "unknown fault 'nope'" in done.stderr


def test_process_reads_the_token_from_an_env_file(tmp_path, busybox_rootfs):
    env_file = tmp_path / "runner.env"
    env_file.write_text(f"{TOKEN_VAR}=file-token\n")
    env_file.chmod(0o600)
    proc = start_runner(tmp_path / "state", token="", extra_args=["--env-file", str(env_file)])
    try:
        with proc.http(token="file-token") as http:
            assert http.get("/v1/config").status_code == 200
        with proc.http(token="not-the-file-token") as http:
            assert http.get("/v1/config").status_code == 401
    finally:
        assert proc.stop() == 0
    assert "file-token" not in proc.log_text()
