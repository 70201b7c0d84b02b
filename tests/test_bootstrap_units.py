"""Pure pieces of bootstrap: secrets, env files, toolchain pins, step plan, argument errors."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from lib.layout import Layout
from lib.names import REPO_ROOT
from lib.stack import envfile, secrets
from lib.stack.bootstrap import cloud, plan
from tests.stack_helpers import STANDIN_STEPS

REPO = REPO_ROOT


def test_secrets_are_minted_once_and_missing_keys_added_without_rotation(tmp_path):
    path = tmp_path / "etc/boxlite-secrets.env"
    values, changes = secrets.ensure(path)
    assert set(values) == set(secrets.SPEC) and changes == [f"minted {','.join(secrets.SPEC)}"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(values["ADMIN_API_KEY"]) == 48 and len(set(values.values())) == len(values)

    again, changes = secrets.ensure(path)
    assert again == values and changes == []

    # An older file lacking a key: only that key is minted, the rest kept.
    path.write_text(f"ADMIN_API_KEY={values['ADMIN_API_KEY']}\n")
    path.chmod(0o644)
    merged, changes = secrets.ensure(path)
    assert merged["ADMIN_API_KEY"] == values["ADMIN_API_KEY"]
    assert merged["ENCRYPTION_KEY"] != values["ENCRYPTION_KEY"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(values["ADMIN_API_KEY"] not in c for c in changes)  # names, never values

    path.chmod(0o644)
    assert secrets.ensure(path)[1] == ["mode set to 0600"]


def test_secrets_parse_errors_never_quote_values(tmp_path):
    path = tmp_path / "s.env"
    path.write_text("ADMIN_API_KEY=topsecret\nthis line is broken topsecret\n")
    with pytest.raises(secrets.SecretsError) as err:
        secrets.load(path)
    assert "line 2" in str(err.value) and "topsecret" not in str(err.value)


def test_env_files_follow_the_layout_and_keep_the_runner_minimal(tmp_path):
    layout = Layout(
        root=tmp_path,
        api_port=3100,
        runner_port=8100,
        registry_port=5100,
        postgres_port=15500,
        redis_port=16500,
    )
    values = {k: f"<{k}>" for k in secrets.SPEC}
    api = envfile.api_env("cloud", layout, values)
    assert api["PORT"] == "3100" and api["DB_PORT"] == "15500" and api["REDIS_PORT"] == "16500"
    assert api["DEFAULT_RUNNER_API_URL"] == "http://127.0.0.1:8100"
    assert api["INSECURE_REGISTRIES"] == "127.0.0.1:5100"
    assert api["DB_PASSWORD"] == "<DB_PASSWORD>"
    runner = envfile.runner_env("cloud", layout, values)
    assert "ENCRYPTION_KEY" not in runner and "DB_PASSWORD" not in runner
    assert runner["BOXLITE_RUNNER_TOKEN"] == "<DEFAULT_RUNNER_API_KEY>"
    assert envfile.runner_env("standin", layout, values) == {
        "DEFAULT_RUNNER_API_KEY": "<DEFAULT_RUNNER_API_KEY>"
    }
    path = tmp_path / "api.env"
    assert envfile.write(path, api) is True and envfile.write(path, api) is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envfile.load(path) == api
    with pytest.raises(ValueError, match="unknown stack"):
        envfile.api_env("mainframe", layout, values)


def test_envfile_exec_passes_secrets_through_the_environment(tmp_path):
    path = tmp_path / "x.env"
    envfile.write(path, {"SECRET_THING": "s3"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lib.stack.envfile",
            "exec",
            str(path),
            "--",
            "sh",
            "-c",
            'echo "$SECRET_THING"',
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout == "s3\n"


@pytest.mark.parametrize(
    ("gomod", "expected"),
    [
        ("module x\n\ngo 1.23\n", "1.23.0"),
        ("module x\n\ngo 1.22.5\n\ntoolchain go1.23.4\n", "1.23.4"),
        ("module x\ngo 1.24.1\n", "1.24.1"),
    ],
)
def test_go_version_comes_from_the_runner_go_mod(tmp_path, gomod, expected):
    (tmp_path / "apps/runner").mkdir(parents=True)
    (tmp_path / "apps/runner/go.mod").write_text(gomod)
    assert cloud.go_version(tmp_path) == expected


def test_rust_channel_comes_from_the_toolchain_file(tmp_path):
    assert cloud.rust_channel(tmp_path) == "stable"
    (tmp_path / "rust-toolchain").write_text("1.80.1\n")
    assert cloud.rust_channel(tmp_path) == "1.80.1"
    (tmp_path / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "1.85.0"\n')
    assert cloud.rust_channel(tmp_path) == "1.85.0"


def test_step_order():
    assert plan.step_names("standin") == list(STANDIN_STEPS)
    cloud_steps = plan.step_names("cloud")
    assert cloud_steps.index("kvm") < cloud_steps.index("postgres") < cloud_steps.index("build")
    assert cloud_steps.index("build") < cloud_steps.index("services") < cloud_steps.index("health")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "standin", "--only", "registry,nope"], "unknown step(s) for standin: nope"),
        (["--stack", "cloud", "--fault", "quota-clamp"], "--fault applies to the stand-in"),
        (["--stack", "standin", "--fault", "quota-clamp=0.5"], "takes no probability"),
    ],
)
def test_bad_arguments_exit_2_before_touching_anything(tmp_path, args, message):
    env = {"BOXLITE_E2E_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(REPO / "bootstrap.sh"), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_shell_scripts_are_shellcheck_clean():
    done = subprocess.run(
        ["shellcheck", "bootstrap.sh", "teardown.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout


def test_a_second_bootstrap_of_the_same_root_is_refused(tmp_path):
    from lib.stack.bootstrap import lock

    layout = Layout(root=tmp_path)
    env = {"BOXLITE_E2E_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
    with lock.exclusive(layout):
        for argv in (["bootstrap.sh", "--stack", "standin", "--only", "secrets"], ["teardown.sh"]):
            done = subprocess.run(
                [str(REPO / argv[0]), *argv[1:]],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert done.returncode == 1 and "another bootstrap or teardown" in done.stderr
    assert not layout.secrets_file.exists()
    with lock.exclusive(layout):  # released: free again
        pass
