"""The cloud stack against each upstream era's checkout layout (issue 13, rows B1-m7).

Synthetic checkouts (tests/boxlite_eras.py) stand in for boxlite-ai/boxlite at each era; the
build tools are recording stand-ins. Each test names the row it pins. Where a row is about
a plan that would fail on a real host, the stand-in fails the way the real tool does, and
the test shows both sides: the old step fails, the era's step passes.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lib.layout import Layout
from lib.proof import stack_driver as D
from lib.stack import checkout, cloud_build, envfile, fixture_setup, health, preflight, secrets
from lib.stack.bootstrap import common
from lib.stack.bootstrap.context import Context, Options, StepError
from lib.stack.services import Service, SupervisorManager, SystemdManager
from tests.boxlite_eras import ERAS, install_tools, make_checkout, recorded

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)


# --- detection (deliverable 2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("era", "images", "link", "library", "tags", "yarn", "lock", "embed", "quota"),
    [
        ("sandbox", "snapshots", "srcdir", "sdks/go/libboxlite.a", (), 1, True, False,
         "per-sandbox"),
        ("pkg-dev", "snapshots", "dev", "target/debug/libboxlite.a", ("boxlite_dev",), 4,
         False, True, "admin-total"),
        ("catalog", "catalog", "prebuilt", "sdks/go/lib/linux-x64-gnu/libboxlite.a", (), 4,
         True, True, "admin-total"),
    ],
)  # fmt: skip
def test_each_era_is_detected_from_its_files(
    tmp_path, era, images, link, library, tags, yarn, lock, embed, quota
):
    co = checkout.detect(make_checkout(tmp_path / era, era))
    assert (co.images, co.go_link.mode, co.go_link.library, co.go_link.tags) == (
        images,
        link,
        library,
        tags,
    )
    assert (co.yarn_major, co.yarn_lock, co.runner_embed, co.quota_api) == (
        yarn,
        lock,
        embed,
        quota,
    )
    assert len(co.submodules) == 4
    assert co.registry_placeholders == (era == "sandbox")  # B8
    assert co.ssh_gateway_key == (era == "sandbox")  # B6
    assert ("write:boxes" in co.permissions) == (era != "sandbox")
    json.dumps(co.record())  # what bootstrap keeps in stack.json


def test_an_unknown_layout_is_refused_with_what_was_seen(tmp_path):
    root = make_checkout(tmp_path / "fork", "catalog")
    (root / "sdks/go/bridge_cgo_prebuilt.go").unlink()  # a fork that moved the Go SDK
    with pytest.raises(checkout.UnknownLayout) as err:
        checkout.detect(root)
    text = str(err.value)
    assert "no Go SDK cgo file linking libboxlite.a" in text
    assert "yarn 4" in text and "image catalog" in text  # what it did see


def test_bootstrap_refuses_an_unknown_layout_before_any_other_step(tmp_path):
    root = make_checkout(tmp_path / "fork", "catalog")
    (root / "apps/package.json").write_text('{"packageManager": "pnpm@9.0.0"}')
    env = dict(os.environ, BOXLITE_E2E_ROOT=str(tmp_path / "stackroot"))
    done = subprocess.run(
        [str(REPO / "bootstrap.sh"), "--stack", "cloud", "--repo", str(root), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    first = out.index("] checkout: ")
    assert out.index("] packages: ") > first  # the checkout step comes first
    assert "packageManager is not yarn@N.x" in out
    assert not (tmp_path / "stackroot").exists()


# --- the build plan per era (B1-B4, M4) -------------------------------------------------


def _plan(tmp_path, era):
    co = checkout.detect(make_checkout(tmp_path / era, era))
    steps = cloud_build.runner_plan(co, tmp_path / "out/boxlite-runner") + cloud_build.api_plan(co)
    return co, steps, {s.what: s for s in steps}, [s.what for s in steps]


@pytest.mark.parametrize("era", ERAS)
def test_plan_order_per_era(tmp_path, era):
    co, steps, by, whats = _plan(tmp_path, era)
    # B1: submodules first, then the musl target and the runtime (M4) before any cargo build.
    assert whats[:2] == ["submodules (sync)", "submodules"]
    assert by["submodules"].argv[:4] == ("git", "submodule", "update", "--init")
    assert whats.index("guest rust target") < whats.index("VM runtime (shim, guest, libkrunfw)")
    assert by["guest rust target"].argv[:3] == ("rustup", "target", "add")
    assert by["guest rust target"].argv[3].endswith("-unknown-linux-musl")
    assert whats.index("VM runtime (shim, guest, libkrunfw)") < whats.index("libboxlite.a")
    # B2: the profile and the place the Go SDK links; checked byte for byte before go build.
    profile = ("--release",) if co.go_link.profile == "release" else ()
    assert by["libboxlite.a"].argv == ("cargo", "build", *profile, "-p", "boxlite-c")
    assert whats.index("the Go SDK links this build") < whats.index("runner")
    assert by["the Go SDK links this build"].argv[-1] == str(co.root / co.go_link.library)
    if era == "pkg-dev":
        assert by["runner"].argv[2:4] == ("-tags", "boxlite_dev")
    else:
        assert "-tags" not in by["runner"].argv
    fix = by.get("localise Go runtime symbols")
    assert (fix is None) == (era == "sandbox")
    if fix is not None:
        assert fix.argv[:2] == ("bash", "scripts/build/fix-go-symbols.sh")
    # B3: the embedded daemon assets before the runner.
    if co.runner_embed:
        assert whats.index("runner daemon asset") < whats.index("runner")
        assert dict(by["runner daemon asset"].env) == {"CGO_ENABLED": "0"}
    else:
        assert "runner daemon asset" not in by
    # B4: the Yarn the checkout pins.
    expected = {
        "sandbox": ("yarn", "install", "--non-interactive", "--frozen-lockfile"),
        "pkg-dev": ("yarn", "install"),
        "catalog": ("yarn", "install", "--immutable"),
    }[era]
    assert by["api dependencies"].argv == expected
    assert ("seed an empty apps/yarn.lock" in by) == (not co.yarn_lock)


@pytest.mark.parametrize("era", ERAS)
def test_the_real_steps_run_per_era_with_stand_in_tools(tmp_path, era):
    co, steps, _, _ = _plan(tmp_path, era)
    record = tmp_path / "record.jsonl"
    env = {**os.environ, **install_tools(tmp_path / "bin", record)}
    log = tmp_path / "build.log"
    for step in steps:
        cloud_build.run_step(step, log, env)
    calls = recorded(record)
    tools = [c["tool"] for c in calls]
    assert tools[:2] == ["git", "git"] and "cargo" in tools and tools.count("yarn") == 1
    staged = co.root / co.go_link.library
    built = co.root / "target" / co.go_link.profile / "libboxlite.a"
    assert staged.read_text() == built.read_text() == f"OUR BUILD {co.go_link.profile}\n"
    assert (tmp_path / "out/boxlite-runner").is_file()
    assert (co.root / "apps/node_modules").is_dir() and (co.root / "apps/yarn.lock").exists()
    # M8: every step ran with Corepack's prompt off and husky off.
    assert all(c["env"]["COREPACK_ENABLE_DOWNLOAD_PROMPT"] == "0" for c in calls)
    runner = next(c for c in calls if c["tool"] == "go" and c["argv"][-1] == "./cmd/runner")
    assert runner["env"]["CGO_ENABLED"] == "1" and runner["cwd"] == str(co.root / "apps/runner")
    if era == "catalog":
        header = co.root / "sdks/go/lib/include/boxlite.h"
        assert header.read_text() == "/* header */\n"


def test_old_plans_fail_where_upstream_would_and_the_era_plan_passes(tmp_path):
    """Two-sided for B2, B3, B4: the step the old harness ran fails with the stand-ins."""
    co = checkout.detect(make_checkout(tmp_path / "c", "catalog"))
    record = tmp_path / "r.jsonl"
    env = {**os.environ, **install_tools(tmp_path / "bin", record)}
    log = tmp_path / "log"
    apps = co.root / "apps"
    old_yarn = cloud_build.Step(
        "api dependencies", ("yarn", "install", "--frozen-lockfile", "--non-interactive"), apps
    )
    with pytest.raises(cloud_build.StepFailed, match="Unsupported option name"):
        cloud_build.run_step(old_yarn, log, env)
    old_runner = cloud_build.Step(
        "runner", ("go", "build", "-o", str(tmp_path / "r"), "./cmd/runner"), apps / "runner"
    )
    with pytest.raises(cloud_build.StepFailed, match="no matching files found"):
        cloud_build.run_step(old_runner, log, env)
    # The old copy to sdks/go/libboxlite.a leaves the release download where cgo links.
    assert (co.root / "sdks/go/lib/linux-x64-gnu/libboxlite.a").read_text() == "RELEASE DOWNLOAD\n"
    for step in cloud_build.runner_plan(co, tmp_path / "r") + cloud_build.api_plan(co):
        cloud_build.run_step(step, log, env)
    assert (co.root / "sdks/go/lib/linux-x64-gnu/libboxlite.a").read_text() == "OUR BUILD release\n"


def test_a_prompt_fails_fast_with_stdin_closed(tmp_path):
    """M8: a Corepack download prompt behind captured output fails at once, both runners."""
    record = tmp_path / "r.jsonl"
    env = {**os.environ, **install_tools(tmp_path / "bin", record), "ERAS_PROMPT": "1"}
    step = cloud_build.Step("api dependencies", ("corepack", "yarn", "install"), tmp_path)
    t0 = time.monotonic()
    with pytest.raises(cloud_build.StepFailed, match="no answer"):
        cloud_build.run_step(step, tmp_path / "log", env)
    layout = Layout(tmp_path / "root")
    ctx = Context(layout, Options("cloud"), SupervisorManager(layout))
    with pytest.raises(StepError, match="no answer"):
        ctx.run(["corepack", "yarn", "install"], "install", env=env)
    assert time.monotonic() - t0 < 60  # bounded by the failure, not by any timeout


# --- fingerprints (m5, M2) --------------------------------------------------------------


def _probe(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def test_fingerprint_sees_edits_to_untracked_files(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "tracked").write_text("a\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    subprocess.run([*git, "add", "tracked"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = cloud_build.source_state(repo, _probe)
    assert clean["dirty"] == ""
    (repo / "new.rs").write_text("fn a() {}\n")
    first = cloud_build.source_state(repo, _probe)
    (repo / "new.rs").write_text("fn b() {}\n")  # same name, new content
    second = cloud_build.source_state(repo, _probe)
    assert first["dirty"] and second["dirty"] and first["dirty"] != second["dirty"]


def test_sdk_record_is_tied_to_the_venv(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    before = cloud_build.venv_identity(str(venv))
    assert before == cloud_build.venv_identity(str(venv))
    (venv / "pyvenv.cfg").unlink()  # CI re-creates .venv from PyPI
    time.sleep(0.01)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert cloud_build.venv_identity(str(venv)) != before


# --- env file and secrets (B5, B6, B8, M1, M6) ---------------------------------------------


def test_cloud_env_file_has_what_every_era_reads(tmp_path):
    values = {k: f"v-{k}" for k in secrets.SPEC}
    env = envfile.api_env("cloud", Layout(tmp_path), values)
    assert env["HEALTH_CHECK_API_KEY"] == values["HEALTH_CHECK_API_KEY"]  # B5
    assert env["SSH_GATEWAY_API_KEY"] == values["SSH_GATEWAY_API_KEY"]  # B6
    for side in ("TRANSIENT", "INTERNAL"):  # B8: all four getOrThrow'd per registry
        for part in ("URL", "ADMIN", "PASSWORD", "PROJECT_ID"):
            assert env[f"{side}_REGISTRY_{part}"], f"{side}_REGISTRY_{part}"
    assert env["LOG_REQUESTS_ENABLED"] == "true"  # M6
    assert env["NO_COLOR"] == "1" and env["FORCE_COLOR"] == "0"
    for res in ("CPU", "MEMORY", "DISK"):  # M1: configuration.ts admin.* names
        assert f"ADMIN_MAX_{res}_PER_SANDBOX" in env and f"ADMIN_TOTAL_{res}_QUOTA" in env
        assert f"ADMIN_MAX_{res}_PER_BOX" not in env
    standin = envfile.api_env("standin", Layout(tmp_path), values)
    assert standin["HEALTH_CHECK_API_KEY"] == values["HEALTH_CHECK_API_KEY"]


def test_api_log_lines_are_matched_without_ansi_colour(tmp_path):
    from lib.harness.logsources import FileSource

    log = tmp_path / "api.log"
    log.write_text("")
    source = FileSource(log)
    cursor = source.cursor()
    log.write_text("\x1b[32mINFO\x1b[39m request \x1b[36mPOST /api/v1/o/boxes/bx12ab\x1b[39m\n")
    lines, _ = source.read(cursor)
    assert lines == ["INFO request POST /api/v1/o/boxes/bx12ab"]


# --- health calls with the right key (B5) ---------------------------------------------------


class _Api(http.server.BaseHTTPRequestHandler):
    calls: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        type(self).calls.append((self.path, key))
        if self.path == "/api/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/api/health/ready":
            self._send(200 if key == "hc" else 403, {"status": "ok"})
        elif self.path == "/api/admin/runners":
            runners = [{"name": "default", "state": "ready"}]
            self._send(200 if key == "adm" else 403, runners)
        else:
            self._send(404, {})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_api():
    _Api.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_ready_uses_the_health_check_key_and_checks_the_runner(fake_api, tmp_path):
    layout = Layout(tmp_path, api_port=fake_api.server_port)
    secrets.write_private(layout.secrets_file, "HEALTH_CHECK_API_KEY=hc\nADMIN_API_KEY=adm\n")
    driver = D.CloudDriver(layout, cache_dir=tmp_path)
    driver.health()  # the two-sided driver's own health wait, for real over HTTP
    assert ("/api/health/ready", "hc") in _Api.calls
    assert ("/api/admin/runners", "adm") in _Api.calls
    assert not any(p == "/api/health/ready" and k != "hc" for p, k in _Api.calls)
    # The admin key on /health/ready is refused, as upstream's HealthCheckGuard does.
    with pytest.raises(health.HealthError, match="403"):
        health.wait_api_ready(
            layout.api_url, health_key="adm", admin_key="adm", stack="cloud", deadline=0.5
        )


def test_runner_ready_reads_the_admin_runner_list():
    import httpx

    ok = httpx.Response(200, json=[{"name": "default", "state": "ready"}])
    assert health.runner_ready(ok)
    assert not health.runner_ready(
        httpx.Response(200, json=[{"name": "default", "state": "unresponsive"}])
    )
    assert not health.runner_ready(httpx.Response(403, json={"statusCode": 403}))


# --- fixture setup per era (M1, B7, deliverable 4) -----------------------------------------


class _Fake:
    def __init__(self, quota_keys, snapshots=False):
        self.quota = dict.fromkeys(quota_keys, 0)
        self.snapshots = {} if snapshots else None
        self.calls, self.patches, self.minted, self.keys = [], [], [], {}

    def __call__(self, request):
        import httpx

        path, method = request.url.path.removeprefix("/api"), request.method
        self.calls.append(f"{method} {path}")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if path == "/v1/me":
            return httpx.Response(200, json={"sub": "a", "path_prefix": self.keys.get(token, "o1")})
        if path.endswith("/quota"):
            if method == "PATCH":
                body = json.loads(request.content)
                self.patches.append(body)
                # Like class-validator with whitelist: unknown keys change nothing.
                self.quota |= {k: v for k, v in body.items() if k in self.quota}
            return httpx.Response(200, json=self.quota)
        if path == "/snapshots" and self.snapshots is None:
            return httpx.Response(404, json={"statusCode": 404})
        if path == "/snapshots" and method == "POST":
            name = json.loads(request.content)["name"]
            self.snapshots[name] = {"id": name, "name": name, "state": "active"}
            return httpx.Response(201, json=self.snapshots[name])
        if path == "/snapshots":
            return httpx.Response(200, json={"items": list(self.snapshots.values())})
        if path == "/organizations":
            return httpx.Response(201, json={"id": "o2"})
        if path == "/api-keys":
            value = f"blk_{len(self.keys)}"
            self.keys[value] = request.headers["X-BoxLite-Organization-ID"]
            self.minted.append(json.loads(request.content))
            return httpx.Response(201, json={"value": value})
        return httpx.Response(404)


@pytest.mark.parametrize("era", ["catalog", "sandbox"])
def test_fixture_setup_speaks_each_eras_quota_dto_and_mints_org_keys(tmp_path, era):
    import httpx

    co = checkout.detect(make_checkout(tmp_path / era, era))
    dto = fixture_setup.QUOTAS[co.quota_api]
    fake = _Fake(dto, snapshots=co.images == "snapshots")
    settings = fixture_setup.Settings(
        "http://api.test/api", "k", "test", "cloud", "p1", tmp_path / "cred.toml", 5,
        era=co.record(),
    )  # fmt: skip
    lines: list[str] = []
    fixture_setup.setup(
        settings, fixture_setup.Api(settings, httpx.MockTransport(fake)), lines.append
    )
    assert fake.patches and all(set(p) <= set(dto) for p in fake.patches)  # M1
    if era == "catalog":
        assert set(fake.patches[0]) == {"totalCpuQuota", "totalMemoryQuota", "totalDiskQuota",
                                        "maxConcurrentBoxes"}  # fmt: skip
        assert not any("/snapshots" in c for c in fake.calls)  # B7: catalog, no snapshots
        assert fake.minted[0]["permissions"][:2] == ["write:boxes", "delete:boxes"]
    else:
        assert set(fake.patches[0]) == {"maxCpuPerSandbox", "maxMemoryPerSandbox",
                                        "maxDiskPerSandbox"}  # fmt: skip
        assert "write:sandboxes" in fake.minted[0]["permissions"]
        assert "POST /snapshots" in fake.calls  # snapshot era: registered
        assert "write:boxes" not in fake.minted[0]["permissions"]
    from lib.tomlcompat import tomllib

    p1 = tomllib.loads(settings.credentials.read_text())["profiles"]["p1"]
    assert p1["api_key"] != "k" and p1["second_path_prefix"] == "o2"  # least privilege
    # A DTO that ignores our keys is caught, not reported as "raised" every run.
    wrong = _Fake(["someOtherKey"])
    with pytest.raises(fixture_setup.SetupError, match="did not change"):
        fixture_setup.ensure_quota(
            settings, fixture_setup.Api(settings, httpx.MockTransport(wrong)), "o1", lines.append
        )


# --- preflight (deliverable 3) ---------------------------------------------------------------


def test_preflight_without_a_checkout_is_lines_and_a_non_zero_exit(tmp_path):
    env = dict(os.environ, BOXLITE_E2E_ROOT=str(tmp_path / "r"), BOXLITE_E2E_KVM_DEVICE="/dev/null")
    done = subprocess.run(
        [str(REPO / "bootstrap.sh"), "--stack", "cloud", "--preflight"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("[FAIL] checkout: no BoxLite checkout") for line in lines)
    assert any(line.startswith("[FAIL] kvm: /dev/null is not a KVM device") for line in lines)
    body = [line for line in lines if line.startswith("[")]
    assert all(" -- fix: " in line for line in body if not line.startswith("[ok"))
    assert lines[-1].startswith("preflight: ") and "block" in lines[-1]
    assert not (tmp_path / "r").exists()


def test_preflight_with_an_era_checkout_names_it(tmp_path):
    root = make_checkout(tmp_path / "boxlite", "catalog")
    lines: list[str] = []
    layout = Layout(tmp_path / "r", api_port=1, runner_port=2, registry_port=3,
                    postgres_port=4, redis_port=5)  # fmt: skip
    preflight.run(layout, root, env={"BOXLITE_E2E_KVM_DEVICE": "/nonexistent"}, emit=lines.append)
    assert any("[ok  ] checkout: era catalog/prebuilt/yarn4/embed" in line for line in lines)
    assert any("[warn] submodules: 4 of 4 not initialised" in line for line in lines)
    assert any("[FAIL] kvm: /nonexistent does not exist" in line for line in lines)


def test_kvm_check_opens_and_creates_a_vm_and_says_nested_kvm_may_still_fail():
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm on this host: the failing side is covered above")
    check = preflight.check_kvm(Path("/dev/kvm"), nested=True)
    if check.status == "FAIL":
        pytest.skip(f"/dev/kvm present but unusable here: {check.detail}")
    assert "KVM_CREATE_VM works" in check.detail
    assert "still fail at guest boot" in check.detail and check.status == "warn"


# --- services, registry, workflow, docs (m1, M7, M3, m7, m3) --------------------------------


def test_units_give_the_runner_60s_to_stop(tmp_path):
    layout = Layout(tmp_path)
    unit = SystemdManager(layout).render(Service("boxlite-runner", ("/bin/true",), "r"))
    assert "TimeoutStopSec=60" in unit


def test_debian_registry_unit_is_disabled_on_systemd_hosts(tmp_path):
    layout = Layout(tmp_path)
    ctx = Context(layout, Options("cloud", dry_run=True), SystemdManager(layout))
    answers = {"is-enabled": "enabled", "is-active": "inactive"}
    ctx.probe = lambda argv, **kw: subprocess.CompletedProcess(argv, 0, answers[argv[1]] + "\n", "")
    common.disable_distro_registry(ctx)
    assert any("systemctl disable --now docker-registry.service" in a for a in ctx.actions)
    answers["is-enabled"] = "disabled"
    ctx.actions.clear()
    common.disable_distro_registry(ctx)
    assert ctx.actions == []


def test_workflow_runs_no_sudo_e_keeps_submodules_and_never_cancels_a_swap():
    text = (REPO / ".github/workflows/e2e-stack.yml").read_text()
    assert "sudo -E" not in text.replace("never `sudo -E`", "")  # M3
    assert "submodules: recursive" in text  # B1
    assert "cancel-in-progress: true" not in text  # m7
    assert "make preflight" in text
    assert 'chown -R "$(id -u):$(id -g)" "$GITHUB_WORKSPACE"' in text


def test_readme_is_honest_about_the_cloud_api_bind_address():
    text = (REPO / "README.md").read_text()
    assert "0.0.0.0" in text  # m3: the NestJS API listens on all interfaces
    assert "./bootstrap.sh --stack cloud --preflight" in text


# --- the remaining bootstrap rows (B1, m2, m4, M2, M3) ------------------------------------


def _dry_ctx(tmp_path, repo, answers):
    layout = Layout(tmp_path / "root")
    ctx = Context(layout, Options("cloud", repo=repo, dry_run=True), SupervisorManager(layout))

    def probe(argv, **kw):
        key = " ".join(str(a) for a in argv[1:])
        out, rc = answers.get(key, ("", 0))
        return subprocess.CompletedProcess(argv, rc, out, "")

    ctx.probe = probe
    return ctx


def test_cloud_packages_include_upstreams_build_packages():
    wanted = {"musl-tools", "llvm", "libclang-dev", "flex", "bison", "bc", "libelf-dev",
              "python3-pyelftools", "libcap-dev", "patchelf"}  # fmt: skip
    assert wanted <= set(common.CLOUD_PACKAGES)  # scripts/setup/setup-ubuntu.sh (B1)


def test_rustup_without_a_default_toolchain_gets_one(tmp_path):
    root = make_checkout(tmp_path / "c", "catalog")
    ctx = _dry_ctx(tmp_path, root, {
        "toolchain list": ("1.88.0-x86_64-unknown-linux-gnu\n", 0),
        "default": ("", 1),  # rustup: no default toolchain is configured
    })  # fmt: skip
    from lib.stack.bootstrap import cloud

    cloud.rust(ctx)
    assert any(a.startswith("make Rust 1.88.0 rustup's default") for a in ctx.actions)  # m4
    ctx.actions.clear()
    ctx.probe = _dry_ctx(tmp_path, root, {
        "toolchain list": ("1.88.0-x86_64-unknown-linux-gnu\n", 0),
        "default": ("1.88.0-x86_64-unknown-linux-gnu (default)\n", 0),
    }).probe  # fmt: skip
    cloud.rust(ctx)
    assert ctx.actions == []


def test_the_sdk_is_rebuilt_when_the_venv_is_not_the_recorded_one(tmp_path):
    from lib.stack.bootstrap import cloud

    root = make_checkout(tmp_path / "c", "catalog")
    ctx = _dry_ctx(tmp_path, root, {"-C " + str(root) + " rev-parse HEAD": ("abc\n", 0)})
    state = cloud.source_state(ctx, root)
    builds = {"sdk": {"from": "checkout", "source": state, "venv": "another-venv"}}
    cloud.builds_file(ctx).parent.mkdir(parents=True)
    cloud.builds_file(ctx).write_text(json.dumps(builds))
    cloud.sdk(ctx)  # M2: same source, other venv -> rebuild
    assert any("build and install the SDK from the checkout" in a for a in ctx.actions)
    builds["sdk"]["venv"] = cloud_build.venv_identity()
    cloud.builds_file(ctx).write_text(json.dumps(builds))
    ctx.actions.clear()
    cloud.sdk(ctx)
    assert not any("build and install" in a for a in ctx.actions)


def test_root_built_output_is_handed_back_to_the_checkout_owner(tmp_path):
    from lib.stack.bootstrap import cloud

    if os.geteuid() != 0:
        pytest.skip("needs root to own a checkout as another user (the hand-back is root-only)")
    root = make_checkout(tmp_path / "c", "catalog")
    os.chown(root, 65534, 65534)
    ctx = _dry_ctx(tmp_path, root, {})
    cloud.hand_back(ctx, root)  # M3
    assert ctx.actions == [
        f"hand build output back to the checkout's owner: chown -R --from=0:0 65534:65534 {root}"
    ]


def test_postgres_socket_dir_is_not_on_the_run_tmpfs(tmp_path):
    from lib.stack.bootstrap import cloud_data

    layout = Layout(tmp_path / "root")
    ctx = Context(layout, Options("cloud"), SupervisorManager(layout))
    argv = cloud_data.postgres_service(ctx, Path("/usr/lib/postgresql/15/bin")).argv
    sockets = [a for a in argv if a.startswith("unix_socket_directories=")]
    assert sockets == [f"unix_socket_directories={layout.postgres_dir / 'socket'}"]  # m2
    assert str(layout.run_dir) not in sockets[0]


def test_two_sided_shares_one_cargo_target_across_worktrees(tmp_path):
    """The driver's plan (shared target dir) runs for real with the stand-ins, twice."""
    cache = tmp_path / "cache/cargo-target"
    env = {**os.environ, **install_tools(tmp_path / "bin", tmp_path / "r.jsonl")}
    for side in ("main", "pr"):
        co = checkout.detect(make_checkout(tmp_path / side, "catalog"))
        for step in cloud_build.runner_plan(co, tmp_path / side / "out/runner", target_dir=cache):
            cloud_build.run_step(step, tmp_path / "log", env)
        assert (co.root / "target").resolve() == cache.resolve()
        assert (co.root / co.go_link.library).read_text() == "OUR BUILD release\n"
    assert (cache / "release/libboxlite.a").is_file()


def test_preflight_names_who_holds_a_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        taken = preflight.check_ports({"boxlite-api": port}, ours=lambda _n: False)
        mine = preflight.check_ports({"boxlite-api": port}, ours=lambda _n: True)
    assert taken[0].status == "FAIL" and f"pid {os.getpid()}" in taken[0].detail
    assert "BOXLITE_E2E_*_PORT" in taken[0].line()
    assert mine[0].status == "ok" and "our own" in mine[0].detail


def test_the_package_the_runner_imports_decides_the_link(tmp_path):
    root = make_checkout(tmp_path / "c", "pkg-dev")
    # A leftover root-level cgo file from the first era beside pkg/boxlite's.
    (root / "sdks/go/bridge.go").write_text(
        "package boxlite\n/*\n#cgo linux LDFLAGS: ${SRCDIR}/libboxlite.a\n*/\n"
    )
    assert checkout.detect(root).go_link.mode == "srcdir"  # the runner imports the root SDK
    (root / "apps/runner/pkg/box.go").write_text(
        'package box\nimport "github.com/boxlite-ai/boxlite/sdks/go/pkg/boxlite"\n'
    )
    assert checkout.detect(root).go_link.mode == "dev"
