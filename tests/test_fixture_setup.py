"""fixture_setup: against a real stand-in stack, and its edge cases against a fake API."""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from lib.harness import credentials
from lib.layout import Layout
from lib.stack import fixture_setup as fs
from lib.stack import secrets
from lib.stack.private_stack import free_ports
from lib.tomlcompat import tomllib

pytestmark = pytest.mark.timeout(300)

FOREIGN = (
    "# my own profiles\n"
    '[profiles.default]\nurl = "https://boxlite.example/api"\napi_key = "mine"\n\n'
    '[profiles.work]\nurl = "https://work.example/api"\napi_key = "work-key"\n'
)


@pytest.fixture(scope="module")
def stack(make_stack):
    return make_stack()


@pytest.fixture
def home(stack, tmp_path):
    """A fresh credentials home per test, holding a developer's own profiles."""
    path = tmp_path / "boxlite"
    path.mkdir()
    (path / "credentials.toml").write_text(FOREIGN)
    stack.env["BOXLITE_HOME"] = str(path)
    return path / "credentials.toml"


def _profiles(path) -> dict:
    return tomllib.loads(path.read_text())["profiles"]


def test_setup_twice_is_idempotent_and_keeps_foreign_profiles(stack, home):
    first = stack.run("fixture_setup.py")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "snapshot e2e/busybox:stable: active" in first.stdout
    assert "quota: raised" in first.stdout
    assert "kept your own [profiles.default]" in first.stdout

    profiles = _profiles(home)
    key = secrets.load(stack.layout.secrets_file)["ADMIN_API_KEY"]
    assert profiles["p1"]["url"] == stack.layout.api_url
    # Least privilege: the cases get a minted org key, never the admin key.
    p1 = profiles["p1"]
    assert p1["api_key"] != key and p1["api_key"].startswith("blk_")
    assert p1["auth_method"] == "api_key" and p1["path_prefix"]
    assert p1["second_path_prefix"] and p1["second_path_prefix"] != p1["path_prefix"]
    assert p1["second_api_key"] not in (key, p1["api_key"])
    assert p1["max_cpus_per_box"] == fs.QUOTA["maxCpuPerBox"]
    assert "keys: minted an org key" in first.stdout
    assert "keys: created second org" in first.stdout
    assert profiles["default"] == {"url": "https://boxlite.example/api", "api_key": "mine"}
    assert profiles["work"]["api_key"] == "work-key"
    assert stat.S_IMODE(home.stat().st_mode) == 0o600
    assert key not in first.stdout + first.stderr

    written = home.read_bytes()
    second = stack.run("fixture_setup.py")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already active" in second.stdout and "quota: already" in second.stdout
    assert "[profiles.p1] unchanged" in second.stdout
    assert "org key for" in second.stdout and "still valid, kept" in second.stdout
    assert home.read_bytes() == written

    check = stack.run("fixture_setup.py", "--check")
    assert check.returncode == 0 and "check: all good" in check.stdout, check.stdout


def test_default_profile_is_written_only_when_absent(stack, home):
    home.unlink()
    run = stack.run("fixture_setup.py")
    assert run.returncode == 0, run.stdout + run.stderr
    profiles = _profiles(home)
    assert credentials.is_managed(profiles["default"])
    assert profiles["default"]["url"] == stack.layout.api_url


def test_check_reports_a_missing_profile_and_changes_nothing(stack, home):
    before = home.read_bytes()
    run = stack.run("fixture_setup.py", "--check")
    assert run.returncode == 1
    assert "no [profiles.p1]" in run.stdout
    assert home.read_bytes() == before


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"BOXLITE_E2E_ADMIN_KEY": "not-the-key"}, [], "rejected the admin key"),
        ({"BOXLITE_E2E_API_URL": "http://127.0.0.1:{port}/api"}, [], "API unreachable"),
        ({}, ["--stack", "mainframe"], "unknown stack 'mainframe'"),
    ],
    ids=["wrong-key", "api-down", "unknown-stack"],
)
def test_bad_input_is_one_message_and_leaves_credentials_alone(stack, home, env, args, message):
    before = home.read_bytes()
    port = free_ports(1)[0]
    stack.env |= {k: v.format(port=port) for k, v in env.items()}
    try:
        run = stack.run("fixture_setup.py", *args)
    finally:
        for k in env:
            stack.env.pop(k)
    assert run.returncode == 1
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert home.read_bytes() == before


def test_a_foreign_p1_is_never_overwritten(stack, home):
    home.write_text(FOREIGN + '\n[profiles.p1]\nurl = "https://mine.example"\n')
    before = home.read_bytes()
    run = stack.run("fixture_setup.py")
    assert run.returncode == 1 and "not written by boxlite-e2e" in run.stderr
    assert home.read_bytes() == before


def test_profile_default_is_refused(stack, home):
    run = stack.run("fixture_setup.py", "--profile", "default")
    assert run.returncode == 2 and "refused" in run.stderr


# --- edge cases against a fake API ----------------------------------------------------------


class FakeApi:
    """The admin routes fixture_setup calls, with scripted snapshot outcomes."""

    def __init__(self, outcomes: list[str], quota: dict | None = None):
        self.outcomes = outcomes  # state each registration ends in, in order
        self.quota = quota or {"maxCpuPerBox": 0, "maxMemoryPerBox": 0, "maxDiskPerBox": 0}
        self.snaps: dict[str, dict] = {}
        self.calls: list[str] = []
        self.keys: dict[str, str] = {}  # minted value -> org
        self.minted: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path.removeprefix("/api"), request.method
        self.calls.append(f"{method} {path}")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if path == "/v1/me":
            org = self.keys.get(token, "org-1") if token != "k" else "org-1"
            return httpx.Response(200, json={"sub": "admin", "path_prefix": org})
        if path == "/organizations" and method == "POST":
            return httpx.Response(201, json={"id": "org-2"})
        if path == "/api-keys" and method == "POST":
            value = f"blk_{len(self.keys)}"
            self.keys[value] = request.headers["X-BoxLite-Organization-ID"]
            self.minted.append(json.loads(request.content))
            return httpx.Response(201, json={"name": "x", "value": value})
        if path.endswith("/quota"):
            if method == "PATCH":
                self.quota |= json.loads(request.content)
            return httpx.Response(200, json=self.quota)
        if path == "/snapshots" and method == "GET":
            return httpx.Response(200, json={"items": list(self.snaps.values())})
        if path == "/snapshots" and method == "POST":
            name = json.loads(request.content)["name"]
            state = self.outcomes.pop(0)
            self.snaps[name] = {
                "id": f"id-{len(self.calls)}",
                "name": name,
                "state": state,
                "errorReason": "pull failed: boom" if state == "error" else None,
            }
            return httpx.Response(200, json=self.snaps[name])
        if method == "DELETE":
            self.snaps = {n: s for n, s in self.snaps.items() if f"/snapshots/{s['id']}" != path}
            return httpx.Response(200)
        return httpx.Response(404)


def _settings(tmp_path) -> fs.Settings:
    return fs.Settings(
        "http://api.test/api",
        "k",
        "test",
        "standin",
        "p1",
        tmp_path / "credentials.toml",
        deadline=5,
    )


def test_error_snapshot_is_retried_once(tmp_path):
    fake = FakeApi(["error", "active"])
    lines: list[str] = []
    settings = _settings(tmp_path)
    fs.setup(settings, fs.Api(settings, httpx.MockTransport(fake)), lines.append)
    assert any("retrying once" in line and "boom" in line for line in lines)
    assert fake.calls.count("POST /snapshots") == 2
    assert _profiles(settings.credentials)["p1"]["path_prefix"] == "org-1"


def test_second_error_is_reported_with_its_reason_and_writes_no_credentials(tmp_path):
    fake = FakeApi(["error", "error"])
    settings = _settings(tmp_path)
    with pytest.raises(fs.SetupError, match="failed twice: pull failed: boom"):
        fs.setup(settings, fs.Api(settings, httpx.MockTransport(fake)), lambda _: None)
    assert not settings.credentials.exists()


def test_quota_is_raised_but_never_lowered(tmp_path):
    fake = FakeApi(
        ["active"], quota={"maxCpuPerBox": 16, "maxMemoryPerBox": 2, "maxDiskPerBox": 99}
    )
    settings = _settings(tmp_path)
    fs.setup(settings, fs.Api(settings, httpx.MockTransport(fake)), lambda _: None)
    assert fake.quota == {"maxCpuPerBox": 16, "maxMemoryPerBox": 8, "maxDiskPerBox": 99}


def test_tools_snapshot_only_when_bootstrap_recorded_the_tools_image(tmp_path):
    layout = Layout.from_env({"BOXLITE_E2E_ROOT": str(tmp_path)})
    layout.config_dir.mkdir(parents=True)
    record = layout.config_dir / "stack.json"
    record.write_text('{"stack": "standin", "tools_image": null}')
    assert fs._snapshot_names("standin", layout) == ["e2e/busybox:stable"]
    record.write_text('{"stack": "standin", "tools_image": "sha256:ab"}')
    assert fs._snapshot_names("standin", layout) == [
        "e2e/busybox:stable",
        fs.TOOLS_IMAGE,
    ]
    assert "e2e/tools:stable" not in fs._snapshot_names("cloud", layout)
