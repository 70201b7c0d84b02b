"""Config resolution: env > profile > stack defaults, discovery, and one clear error each."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from lib.harness import config as cfg
from lib.harness import credentials
from lib.harness.api import Answer, StackFacts, probe_stack

STANDIN_FAULTS = {
    "component": "api",
    "faults": [
        {
            "name": "exec-stdout-drop",
            "issue": "boxlite-ai/boxlite#563",
            "component": "runner",
            "probability": 0.5,
        }
    ],
}


def facts(*, me=200, prefix="org-1", faults=True, caps=None, health=None) -> StackFacts:
    return StackFacts(
        me=Answer(me, {"sub": "admin", "path_prefix": prefix} if me == 200 else None),
        faults=Answer(200, STANDIN_FAULTS) if faults else Answer(404, {"message": "nope"}),
        config=Answer(200, {"capabilities": caps or {"snapshots_enabled": True}}),
        health=Answer(200, health or {"status": "ok", "version": "standin-0.1"}),
    )


class Probe:
    def __init__(self, result: StackFacts | Exception):
        self.result = result
        self.calls: list[tuple[str, str]] = []

    def __call__(self, url: str, key: str) -> StackFacts:
        self.calls.append((url, key))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def home(tmp_path):
    return tmp_path / "bxhome"


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"BOXLITE_HOME": str(home), "HOME": str(home.parent), "PATH": "/nonexistent"}
    env["BOXLITE_E2E_ROOT"] = str(home.parent / "root")
    env.update({f"BOXLITE_E2E_{k}": v for k, v in extra.items()})
    return env


def write_p1(home: Path, **profile) -> None:
    data = {"url": "http://127.0.0.1:3999/api", "api_key": "from-profile"} | profile
    credentials.write_profile(credentials.credentials_path({"BOXLITE_HOME": str(home)}), "p1", data)


def test_profile_values_and_discovered_prefix(home):
    write_p1(home)
    probe = Probe(facts(prefix="acme/team-1"))
    c = cfg.load(base_env(home), probe=probe)
    assert probe.calls == [("http://127.0.0.1:3999/api", "from-profile")]
    assert c.api_url == "http://127.0.0.1:3999/api"
    assert c.api_key == "from-profile"
    assert c.prefix == "acme/team-1" and c.sources["prefix"] == "GET /v1/me"
    assert c.stack == "standin" and c.sources["stack"].startswith("detected")
    assert c.image == "e2e/busybox:stable"
    assert c.runner_log.kind == "file"
    assert c.runner_log.path == home.parent / "root/var/log/boxlite-runner.log"
    assert c.api_log == home.parent / "root/var/log/boxlite-api.log"
    assert c.active_issues() == {"boxlite-ai/boxlite#563"}
    assert c.faults[0].probability == 0.5
    assert c.capabilities == {"snapshots"}
    assert c.versions["version"] == "standin-0.1"
    assert "from-profile" not in repr(c)
    assert "from-profile" not in str(c.describe())


def test_env_beats_profile_beats_default(home):
    write_p1(home, image="img:profile", path_prefix="prof-prefix")
    env = base_env(
        home,
        API_URL="http://127.0.0.1:4000/api/",
        API_KEY="env-key",
        IMAGE="img:env",
        RUNNER_UNIT="my-runner",
        API_LOG="/x/api.log",
        RESULTS_DIR="/x/results",
    )
    c = cfg.load(env, probe=Probe(facts()))
    assert (c.api_url, c.api_key, c.image) == ("http://127.0.0.1:4000/api", "env-key", "img:env")
    assert c.prefix == "prof-prefix" and c.sources["prefix"] == "profile p1"
    assert c.runner_log == cfg.RunnerLog("journal", unit="my-runner")
    assert c.api_log == Path("/x/api.log") and c.results_dir == Path("/x/results")


def test_empty_prefix_env_means_no_prefix(home):
    write_p1(home, path_prefix="prof-prefix")
    c = cfg.load(base_env(home, PREFIX=""), probe=Probe(facts(me=404)))
    assert c.prefix == "" and c.sources["prefix"] == "env"


def test_cloud_detected_defaults(home):
    write_p1(home)
    c = cfg.load(base_env(home), probe=Probe(facts(faults=False)))
    assert c.stack == "cloud" and c.faults == ()
    assert c.image == "alpine:3.23"
    assert c.runner_log == cfg.RunnerLog("journal", unit="boxlite-runner")


def test_explicit_stack_and_runner_journal_dir(home):
    write_p1(home, stack="cloud")
    env = base_env(home, RUNNER_JOURNAL="/j", STACK="standin")
    c = cfg.load(env, probe=Probe(facts(faults=False)))
    assert c.stack == "standin" and c.sources["stack"] == "env"
    assert c.runner_log == cfg.RunnerLog("journal", path=Path("/j"), unit="boxlite-runner")
    c = cfg.load(base_env(home), probe=Probe(facts()))
    assert c.stack == "cloud" and c.sources["stack"] == "profile p1"
    with pytest.raises(cfg.ConfigError, match="expected one of"):
        cfg.load(base_env(home, STACK="prod"), probe=Probe(facts()))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), (" On ", True), ("0", False), ("false", False),
     ("no", False), ("", False), ("2", False), ("enabled", False)],
)  # fmt: skip
def test_skip_path_verify_truthiness(home, value, expected):
    write_p1(home)
    c = cfg.load(base_env(home, SKIP_PATH_VERIFY=value), probe=Probe(facts()))
    assert c.skip_path_verify is expected


def test_path_deadline(home):
    write_p1(home)
    assert cfg.load(base_env(home), probe=Probe(facts())).path_deadline == 5.0
    assert cfg.load(base_env(home, PATH_DEADLINE="0.5"), probe=Probe(facts())).path_deadline == 0.5
    for bad in ("soon", "0", "-1", "1000"):
        with pytest.raises(cfg.ConfigError, match="PATH_DEADLINE"):
            cfg.load(base_env(home, PATH_DEADLINE=bad), probe=Probe(facts()))


def test_p06_case_knobs(home):
    write_p1(home)
    c = cfg.load(base_env(home), probe=Probe(facts()))
    assert (c.p06_boxes, c.p06_execs) == (3, 40)
    assert c.sources["p06_boxes"] == c.sources["p06_execs"] == "default"
    assert "P06_BOXES" in cfg.ENV_VARS and "P06_EXECS" in cfg.ENV_VARS
    c = cfg.load(base_env(home, P06_BOXES="1", P06_EXECS=" 10 "), probe=Probe(facts()))
    assert (c.p06_boxes, c.p06_execs) == (1, 10)
    assert c.sources["p06_boxes"] == c.sources["p06_execs"] == "env"
    assert c.describe()["p06_boxes"] == 1 and c.describe()["p06_execs"] == 10
    blank = cfg.load(base_env(home, P06_BOXES="  "), probe=Probe(facts()))
    assert blank.p06_boxes == 3  # set but blank: the default, like every other key


@pytest.mark.parametrize("key", ["P06_BOXES", "P06_EXECS"])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("many", "is not an integer"),
        ("2.5", "is not an integer"),
        ("0", "expected a positive integer"),
        ("-3", "expected a positive integer"),
    ],
)
def test_p06_case_knobs_refuse_bad_values(home, key, bad, message):
    write_p1(home)
    with pytest.raises(cfg.ConfigError, match=f"BOXLITE_E2E_{key}=.*{message}"):
        cfg.load(base_env(home, **{key: bad}), probe=Probe(facts()))


def test_missing_profile_is_one_clear_error(home):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(base_env(home), probe=Probe(facts()))
    msg = str(info.value)
    assert "profile 'p1' not found" in msg and "BOXLITE_E2E_API_KEY" in msg


def test_missing_named_profile_even_with_env_key(home):
    env = base_env(home, PROFILE="staging", API_KEY="k", API_URL="http://x/api")
    with pytest.raises(cfg.ConfigError, match="'staging' not found"):
        cfg.load(env, probe=Probe(facts()))


def test_env_only_needs_no_profile(home):
    env = base_env(home, API_KEY="k")
    c = cfg.load(env, probe=Probe(facts()))
    assert c.api_url.endswith(":3000/api") and c.sources["api_url"] == "default"


def test_unreachable_api_is_one_clear_error(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        env = base_env(home, API_URL=f"http://127.0.0.1:{port}/api", API_KEY="secret-k")
        with pytest.raises(cfg.ConfigError) as info:
            cfg.load(env)
    msg = str(info.value)
    assert msg.startswith(f"API unreachable at http://127.0.0.1:{port}/api")
    assert "secret-k" not in msg


def test_rejected_key(home):
    write_p1(home)
    with pytest.raises(cfg.ConfigError, match="rejected the key"):
        cfg.load(base_env(home), probe=Probe(facts(me=401)))


def test_undiscoverable_prefix(home):
    write_p1(home)
    with pytest.raises(cfg.ConfigError, match="BOXLITE_E2E_PREFIX"):
        cfg.load(base_env(home), probe=Probe(facts(me=404)))


def test_bad_cli_and_cli_from_path(home, tmp_path):
    write_p1(home)
    with pytest.raises(cfg.ConfigError, match="not an executable"):
        cfg.load(base_env(home, CLI="/no/such/boxlite"), probe=Probe(facts()))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "boxlite"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = base_env(home) | {"PATH": str(bindir)}
    c = cfg.load(env, probe=Probe(facts()))
    assert c.cli == str(exe) and "cli" in c.capabilities


def test_malformed_credentials_file(home):
    home.mkdir()
    (home / "credentials.toml").write_text("[profiles\n")
    with pytest.raises(cfg.ConfigError, match="not valid TOML"):
        cfg.load(base_env(home), probe=Probe(facts()))


def test_probe_stack_over_http():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["authorization"]))
        routes = {
            "/api/v1/me": (200, {"path_prefix": "p"}),
            "/api/v1/_standin/faults": (200, {"faults": []}),
            "/api/v1/config": (200, {"capabilities": {}}),
        }
        status, body = routes.get(request.url.path, (404, {"message": "no"}))
        return httpx.Response(status, json=body)

    f = probe_stack("http://stack/api/", "k", transport=httpx.MockTransport(handler))
    assert f.me == Answer(200, {"path_prefix": "p"})
    assert f.health.status == 404
    assert {p for p, _ in seen} == {
        "/api/v1/me",
        "/api/v1/_standin/faults",
        "/api/v1/config",
        "/api/health",
        "/api/v1/_standin/lifecycle",
    }
    assert all(auth == "Bearer k" for _, auth in seen)


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ("systemd", cfg.RunnerLog("journal", unit="boxlite-runner")),
        ("supervisor", cfg.RunnerLog("file", path=Path("var/log/boxlite-runner.log"))),
    ],
)
def test_runner_log_follows_the_service_manager_bootstrap_recorded(home, services, expected):
    # Under systemd bootstrap sends the runner's log to journald, under supervisor to a file;
    # a stand-in on a systemd host must be verified from the journal, not an absent file.
    root = home.parent / "root"
    record = root / "etc/boxlite-e2e/stack.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"stack": "standin", "services": services}))
    write_p1(home)
    c = cfg.load(base_env(home), probe=Probe(facts()))
    if expected.path is not None:
        expected = cfg.RunnerLog("file", path=root / expected.path)
    assert c.runner_log == expected
    assert c.sources["runner_log"] == f"bootstrap record ({services})"


def test_network_profile_and_case_netfaults(home):
    write_p1(home)
    c = cfg.load(base_env(home), probe=Probe(facts()))
    assert (c.network_profile, c.case_netfaults) == (None, "marked")
    c = cfg.load(
        base_env(home, NETWORK_PROFILE="wan", NETFAULTS="transparent"), probe=Probe(facts())
    )
    assert (c.network_profile, c.case_netfaults) == ("wan", "transparent")
    assert c.describe()["network_profile"] == "wan"
    assert c.sources["network_profile"] == c.sources["case_netfaults"] == "env"
    c = cfg.load(base_env(home, NETWORK_PROFILE="latency=5;bandwidth=50"), probe=Probe(facts()))
    assert c.network_profile == "latency=5;bandwidth=50"
    assert cfg.load(base_env(home, NETFAULTS="latency"), probe=Probe(facts())).case_netfaults


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [
        ("NETWORK_PROFILE", "lan", "unknown network fault 'lan'"),
        ("NETWORK_PROFILE", "none", "unknown network profile"),
        ("NETWORK_PROFILE", "latency=x", "is not a number"),
        ("NETFAULTS", "all", "expected marked, transparent or a network fault name"),
    ],
)
def test_network_settings_refuse_bad_values(home, key, bad, message):
    write_p1(home)
    with pytest.raises(cfg.ConfigError, match=f"BOXLITE_E2E_{key}=.*{message}"):
        cfg.load(base_env(home, **{key: bad}), probe=Probe(facts()))
