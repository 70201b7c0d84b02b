"""Credentials file: precedence of its location, safe atomic writes, no clobbering."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from lib.harness import credentials as cr
from lib.tomlcompat import tomllib


def test_path_prefers_boxlite_home(tmp_path):
    env = {"BOXLITE_HOME": str(tmp_path / "bh"), "HOME": str(tmp_path / "home")}
    assert cr.credentials_path(env) == tmp_path / "bh" / "credentials.toml"


def test_path_falls_back_to_home_dot_boxlite(tmp_path):
    env = {"BOXLITE_HOME": "  ", "HOME": str(tmp_path)}
    assert cr.credentials_path(env) == tmp_path / ".boxlite" / "credentials.toml"


def test_load_missing_file_is_empty(tmp_path):
    assert cr.load_profiles(tmp_path / "nope.toml") == {}


def test_load_malformed_names_file_not_content(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[profiles.p1]\napi_key = "s3cret\n')
    with pytest.raises(cr.CredentialsError) as info:
        cr.load_profiles(path)
    assert str(path) in str(info.value)
    assert "s3cret" not in str(info.value)


def test_write_new_file_is_0600_and_marked(tmp_path):
    path = tmp_path / "sub" / "credentials.toml"
    cr.write_profile(path, "p1", {"url": "http://x/api", "api_key": 'k"\\y'})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profile = cr.load_profiles(path)["p1"]
    assert profile["api_key"] == 'k"\\y'  # escaped correctly, round-trips
    assert cr.is_managed(profile)
    assert not list(path.parent.glob(".credentials.toml.*.tmp"))


def test_write_preserves_other_profiles_and_top_level_keys(tmp_path):
    path = tmp_path / "credentials.toml"
    path.write_text(
        'current = "mine"\n[extra]\nx = 1\n'
        '[profiles.default]\nurl = "https://cloud"\napi_key = "real"\n'
    )
    path.chmod(0o644)
    cr.write_profile(path, "p1", {"url": "http://127.0.0.1:3000/api", "api_key": "k"})
    doc = tomllib.loads(path.read_text())
    assert doc["current"] == "mine"
    assert doc["extra"] == {"x": 1}
    assert doc["profiles"]["default"] == {"url": "https://cloud", "api_key": "real"}
    assert doc["profiles"]["p1"]["api_key"] == "k"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tightened on rewrite


def test_refuses_to_overwrite_unmanaged_profile(tmp_path):
    path = tmp_path / "credentials.toml"
    path.write_text('[profiles.default]\nurl = "https://cloud"\napi_key = "real"\n')
    before = path.read_bytes()
    with pytest.raises(cr.CredentialsError, match="not written by boxlite-e2e"):
        cr.write_profile(path, "default", {"url": "x", "api_key": "local"})
    assert path.read_bytes() == before
    cr.write_profile(path, "default", {"url": "x", "api_key": "local"}, replace_unmanaged=True)
    assert cr.load_profiles(path)["default"]["api_key"] == "local"


def test_rewrites_managed_profile(tmp_path):
    path = tmp_path / "credentials.toml"
    cr.write_profile(path, "p1", {"url": "a", "api_key": "1"})
    cr.write_profile(path, "p1", {"url": "b", "api_key": "2"})
    assert cr.load_profiles(path)["p1"]["url"] == "b"


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "credentials.toml"
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            cr.write_profile(path, f"w{i}", {"url": str(i), "api_key": "k"})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(cr.load_profiles(path)) == {f"w{i}" for i in range(16)}


def test_remove_profile_only_managed(tmp_path):
    path = tmp_path / "credentials.toml"
    cr.write_profile(path, "p1", {"url": "a", "api_key": "1"})
    cr.write_profile(path, "mine", {"url": "a", "api_key": "1"}, managed=False)
    assert cr.remove_profile(path, "p1") is True
    assert cr.remove_profile(path, "p1") is False
    with pytest.raises(cr.CredentialsError):
        cr.remove_profile(path, "mine")
    assert set(cr.load_profiles(path)) == {"mine"}


def test_write_rejects_empty_name(tmp_path):
    with pytest.raises(cr.CredentialsError):
        cr.write_profile(Path(tmp_path / "c.toml"), "", {})
