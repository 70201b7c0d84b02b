"""Start-up refusals of the stand-in API: secrets, loopback, faults, org id."""

from __future__ import annotations

from pathlib import Path

import pytest

from standin.api import main as api_main
from standin.api.config import ConfigError, resolve

KEYS = {"ADMIN_API_KEY": "adm-k3y-7781", "DEFAULT_RUNNER_API_KEY": "run-k3y-9924"}


def test_secrets_from_env(tmp_path: Path) -> None:
    cfg = resolve(["--state-dir", str(tmp_path)], KEYS)
    assert (cfg.admin_key, cfg.runner_key) == ("adm-k3y-7781", "run-k3y-9924")
    assert (cfg.host, cfg.port, cfg.faults) == ("127.0.0.1", 3000, {})
    # A traceback or debug print of the config must not carry the keys.
    assert "k3y" not in repr(cfg)


def test_secrets_from_env_file_env_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "secrets.env"
    env_file.write_text("# minted once\nADMIN_API_KEY='from-file'\nDEFAULT_RUNNER_API_KEY=rf\n")
    cfg = resolve(["--state-dir", str(tmp_path), "--env-file", str(env_file)], {})
    assert (cfg.admin_key, cfg.runner_key) == ("from-file", "rf")
    cfg = resolve(
        ["--state-dir", str(tmp_path), "--env-file", str(env_file)], {"ADMIN_API_KEY": "env"}
    )
    assert (cfg.admin_key, cfg.runner_key) == ("env", "rf")


@pytest.mark.parametrize("missing", sorted(KEYS))
def test_refuses_without_a_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in KEYS.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        resolve(["--state-dir", str(tmp_path)], env)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_refuses_non_loopback(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        resolve(["--state-dir", str(tmp_path), "--host", host], KEYS)


def test_faults_api_side_only(tmp_path: Path) -> None:
    cfg = resolve(
        ["--state-dir", str(tmp_path), "--fault", "quota-clamp", "--fault", "validation-coerce"],
        KEYS,
    )
    assert sorted(cfg.faults) == ["quota-clamp", "validation-coerce"]
    with pytest.raises(ConfigError, match="belong to the runner"):
        resolve(["--state-dir", str(tmp_path), "--fault", "exec-stdout-drop"], KEYS)
    with pytest.raises(ConfigError, match="unknown fault"):
        resolve(["--state-dir", str(tmp_path), "--fault", "nope"], KEYS)


@pytest.mark.parametrize("org", ["org-123/team-a", "7f9c", "a.b_c-d"])
def test_org_id_accepts_multi_segment(tmp_path: Path, org: str) -> None:
    assert resolve(["--state-dir", str(tmp_path), "--org-id", org], KEYS).org_id == org


@pytest.mark.parametrize("org", ["/lead", "a//b", "a/", "sp ace", "a%2Fb"])
def test_org_id_rejects_unsafe(tmp_path: Path, org: str) -> None:
    with pytest.raises(ConfigError, match="org-id"):
        resolve(["--state-dir", str(tmp_path), "--org-id", org], KEYS)


def test_main_exits_2_with_a_message(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    monkeypatch.delenv("DEFAULT_RUNNER_API_KEY", raising=False)
    assert api_main.main(["--state-dir", str(tmp_path)]) == 2
    assert "missing secret(s) ADMIN_API_KEY, DEFAULT_RUNNER_API_KEY" in capsys.readouterr().err
