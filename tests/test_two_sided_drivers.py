"""lib.proof.stack_driver: the stand-in driver's fault files and swap checks, and the cloud driver's
whole plan (build steps, swap, backup, restore) against a fake BoxLite tree, a fake command
runner and a fake service manager -- the cloud stack cannot run off-KVM, its plan can."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lib.layout import Layout
from lib.proof import stack_driver as D
from tests.boxlite_eras import make_checkout

# --------------------------------------------------------------------------- stand-in


def write_faults(tree: Path, text: str) -> Path:
    path = tree / D.FAULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return tree


def test_declared_faults(tmp_path: Path):
    assert D.declared_faults(tmp_path) == []  # no file: a clean build
    write_faults(tmp_path, "# main still has #563\nexec-stdout-drop=0.50  # racy\n\nquota-clamp\n")
    assert D.declared_faults(tmp_path) == ["exec-stdout-drop=0.5", "quota-clamp"]
    write_faults(tmp_path, "quota-clamp\nnone\n")
    assert D.declared_faults(tmp_path) == []
    write_faults(tmp_path, "exec-stdout-drop=1\n")
    assert D.declared_faults(tmp_path) == ["exec-stdout-drop"]
    write_faults(tmp_path, "no-such-fault\n")
    with pytest.raises(D.BuildError, match=r"standin-faults: unknown fault 'no-such-fault'"):
        D.declared_faults(tmp_path)


def test_faults_from_report_reads_both_components():
    body = {
        "faults": [
            {"name": "quota-clamp", "probability": 1.0, "component": "api"},
            {"name": "exec-stdout-drop", "probability": 0.2, "component": "runner"},
        ]
    }
    assert D.faults_from_report(body) == ["exec-stdout-drop=0.2", "quota-clamp"]
    nested = {"api": {"faults": []}, "runner": {"component": "runner", "faults": []}}
    assert D.faults_from_report(nested) == []


class FakeControl:
    def __init__(self, running: list[str], obeys: bool = True) -> None:
        self.running = running
        self.obeys = obeys
        self.restarts: list[list[str]] = []

    def current_faults(self) -> list[str]:
        return list(self.running)

    def restart(self, faults: list[str]) -> None:
        self.restarts.append(list(faults))
        if self.obeys:
            self.running = list(faults)


def test_standin_driver_swaps_and_restores_faults(tmp_path: Path):
    control = FakeControl(["attach-no-replay"])
    driver = D.StandinDriver(control)
    driver.preflight()
    snap = driver.snapshot()
    assert snap.info == {"faults": ["attach-no-replay"]}
    main = driver.build(
        "main", "main", "a" * 40, write_faults(tmp_path, "exec-stdout-drop\n"), tmp_path
    )
    assert main.info["faults"] == ["exec-stdout-drop"]
    driver.activate(main)
    assert control.running == ["exec-stdout-drop"]
    driver.restore(snap)
    assert control.running == ["attach-no-replay"]
    assert control.restarts == [["exec-stdout-drop"], ["attach-no-replay"]]


def test_standin_driver_refuses_a_stack_that_runs_other_faults(tmp_path: Path):
    control = FakeControl([], obeys=False)
    driver = D.StandinDriver(control, settle_deadline=0.2)
    build = driver.build("pr", "fix", "b" * 40, write_faults(tmp_path, "quota-clamp\n"), tmp_path)
    with pytest.raises(D.BringUpError, match=r"reports faults \[\], expected \['quota-clamp'\]"):
        driver.activate(build)
    with pytest.raises(D.RestoreError):
        driver.restore(D.Snapshot(data={"faults": ["quota-clamp"]}))


def test_standin_control_restart_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)

        class Done:
            returncode, stdout, stderr = 0, "", ""

        return Done()

    monkeypatch.setattr(D.subprocess, "run", fake_run)
    control = D.BootstrapControl(tmp_path, Layout(tmp_path), {})
    control.restart([])
    control.restart(["exec-stdout-drop=0.5", "quota-clamp"])
    assert calls[0] == [
        f"{tmp_path}/bootstrap.sh",
        "--stack",
        "standin",
        "--only",
        "services,health",
        "--fault",
        "none",
    ]
    assert calls[1][-4:] == ["--fault", "exec-stdout-drop=0.5", "--fault", "quota-clamp"]


def test_standin_control_without_a_stack_says_how_to_bring_it_up(tmp_path: Path):
    control = D.BootstrapControl(tmp_path, Layout(tmp_path, api_port=1), {})
    with pytest.raises(D.BringUpError, match="bring the stand-in up first"):
        control.current_faults()  # no secrets file in this root


# --------------------------------------------------------------------------- cloud

SYSTEMD_UNIT = """[Unit]
Description=BoxLite API
[Service]
ExecStart="npx" "ts-node" "api/src/main.ts"
WorkingDirectory=/home/dev/boxlite/apps
EnvironmentFile=@ENV@
"""


class FakeServices:
    kind = "systemd"

    def __init__(self, unit_dir: Path) -> None:
        self.unit_dir = unit_dir
        self.calls: list[tuple[str, str]] = []
        self.fail_on: str | None = None

    def config_path(self, name: str) -> Path:
        return self.unit_dir / f"{name}.service"

    def _do(self, verb: str, name: str) -> None:
        self.calls.append((verb, name))
        if self.fail_on == verb:
            raise RuntimeError(f"systemctl {verb} {name} failed")

    def stop(self, name: str) -> None:
        self._do("stop", name)

    def start(self, name: str) -> None:
        self._do("start", name)

    def reload(self, name: str) -> None:
        self._do("reload+restart", name)


def fake_boxlite(tree: Path, era: str = "catalog") -> Path:
    return make_checkout(tree, era)


class FakeBuilder:
    """Records each step and makes the artifacts the real tools would."""

    def __init__(self, fail: str | None = None) -> None:
        self.steps: list[D.Step] = []
        self.fail = fail

    def __call__(self, step: D.Step, log: Path) -> None:
        self.steps.append(step)
        if step.what == self.fail:
            raise D.BuildError(f"{step.what}: exited 101")
        argv = list(step.argv)
        if argv[:2] == ["go", "build"]:
            out = Path(argv[argv.index("-o") + 1])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f"runner built in {step.cwd}\n")
        elif argv[1:4] == ["-m", "pip", "wheel"]:
            out = Path(argv[argv.index("-w") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "boxlite-0.10.9-cp311-abi3-linux_x86_64.whl").write_text("wheel")


def unit_text(layout: Layout) -> str:
    return SYSTEMD_UNIT.replace("@ENV@", str(layout.env_file))


@pytest.fixture
def cloud(tmp_path: Path):
    layout = Layout(tmp_path / "root")
    layout.bin_dir.mkdir(parents=True)
    (layout.bin_dir / "boxlite-runner").write_text("original runner\n")
    layout.env_file.parent.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text("ADMIN_API_KEY=a\nDB_DATABASE=boxlite_dev\nDB_PORT=15432\n")
    services = FakeServices(layout.unit_dir)
    layout.unit_dir.mkdir(parents=True)
    services.config_path("boxlite-api").write_text(unit_text(layout))
    health_calls, databases, fixtures = [], [], []
    driver = D.CloudDriver(
        layout,
        cache_dir=tmp_path / "cache",
        python="/venv/bin/python",
        run=FakeBuilder(),
        services=services,
        health=lambda: health_calls.append(1),
        database=databases.append,
        fixture=fixtures.append,
    )
    driver.health_calls, driver.databases, driver.fixtures = health_calls, databases, fixtures
    return driver


def test_cloud_build_plan(cloud: D.CloudDriver, tmp_path: Path):
    tree = fake_boxlite(tmp_path / "wt-main")
    out = tmp_path / "out-main"
    build = cloud.build("main", "main", "c" * 40, tree, out)
    steps = cloud.run.steps
    whats = [s.what for s in steps]
    # The newest era's plan (lib/stack/cloud_build.py): submodules first, the shared cargo
    # target, the runtime, the library staged where bridge_cgo_prebuilt.go links it and
    # checked there, daemon assets before the runner.
    assert whats[:4] == [
        "submodules (sync)",
        "submodules",
        "cargo target cache",
        "share the cargo target dir",
    ]
    order = [
        "VM runtime (shim, guest, libkrunfw)",
        "libboxlite.a",
        "localise Go runtime symbols",
        "put libboxlite.a where the Go SDK links it (prebuilt)",
        "the Go SDK links this build",
        "runner daemon asset",
        "runner",
        "api dependencies",
        "api workspace self-link",
        "python sdk wheel",
        "python sdk unpack",
    ]
    assert [w for w in whats if w in order] == order
    by = {s.what: s for s in steps}
    target = tmp_path / "cache/cargo-target"
    assert by["share the cargo target dir"].argv == ("ln", "-sfnT", str(target), "target")
    assert by["libboxlite.a"].argv == ("cargo", "build", "--release", "-p", "boxlite-c")
    assert by["put libboxlite.a where the Go SDK links it (prebuilt)"].argv[-1] == str(
        tree / "sdks/go/lib/linux-x64-gnu/libboxlite.a"
    )
    assert by["runner"].cwd == tree / "apps/runner"
    assert by["runner"].argv == ("go", "build", "-o", str(out / "boxlite-runner"), "./cmd/runner")
    assert dict(by["runner"].env) == {"CGO_ENABLED": "1"}
    assert by["api dependencies"].argv == ("yarn", "install", "--immutable")
    assert by["python sdk wheel"].cwd == tree / "sdks/python"
    assert by["python sdk wheel"].argv[:4] == ("/venv/bin/python", "-m", "pip", "wheel")
    unpack = by["python sdk unpack"].argv
    assert unpack[:3] == ("/venv/bin/python", "-m", "pip") and "--target" in unpack
    # everything from the worktree, nothing from anywhere else
    assert all(str(s.cwd).startswith((str(tree), str(out))) for s in steps)
    assert build.artifacts["api"] == tree / "apps"
    assert build.env["PYTHONPATH"].split(os.pathsep)[0] == str(out / "sdk")
    # Its own database (M5), named in the side's env file, and its own credentials home.
    assert (
        cloud.databases == ["boxlite_dev_2s_main"] and build.info["database"] == cloud.databases[0]
    )
    env_text = build.artifacts["api_env"].read_text()
    assert (
        "DB_DATABASE=boxlite_dev_2s_main" in env_text
        and "DB_DATABASE=boxlite_dev\n" not in env_text
    )
    assert (
        "ADMIN_API_KEY=a" in env_text
        and (build.artifacts["api_env"].stat().st_mode & 0o777) == 0o600
    )
    assert build.env["BOXLITE_HOME"] == str(out / "home")


def test_cloud_build_plan_follows_the_tree_era(cloud: D.CloudDriver, tmp_path: Path):
    tree = fake_boxlite(tmp_path / "wt-old", "pkg-dev")
    cloud.build("pr", "fix", "c" * 40, tree, tmp_path / "o")
    by = {s.what: s for s in cloud.run.steps}
    assert by["libboxlite.a"].argv == ("cargo", "build", "-p", "boxlite-c")  # debug profile
    assert by["runner"].argv[2:4] == ("-tags", "boxlite_dev")
    assert by["api dependencies"].argv == ("yarn", "install")  # no lockfile committed
    assert "seed an empty apps/yarn.lock" in by
    unknown = tmp_path / "wt-unknown"
    (unknown / "apps").mkdir(parents=True)
    with pytest.raises(D.BuildError, match="not a BoxLite layout"):
        cloud.build("pr", "x", "d" * 40, unknown, tmp_path / "o2")


def test_cloud_build_failures_are_build_errors(cloud: D.CloudDriver, tmp_path: Path):
    tree = fake_boxlite(tmp_path / "wt")
    cloud.run = FakeBuilder(fail="libboxlite.a")
    with pytest.raises(D.BuildError, match="libboxlite.a"):
        cloud.build("pr", "fix", "d" * 40, tree, tmp_path / "out")
    cloud.run = lambda step, log: None  # tools "succeed" but make nothing
    with pytest.raises(D.BuildError, match="go build made no"):
        cloud.build("pr", "fix", "d" * 40, tree, tmp_path / "out2")
    (tree / "apps/api/src/main.ts").unlink()
    cloud.run = FakeBuilder()
    with pytest.raises(D.BuildError, match="no apps/api/src/main.ts"):
        cloud.build("pr", "fix", "d" * 40, tree, tmp_path / "out3")


def test_run_step_reports_the_tail_of_a_failing_command(tmp_path: Path):
    step = D.Step(
        "libboxlite.a", ("sh", "-c", "echo compiling; echo 'error[E0308]' >&2; exit 101"), tmp_path
    )
    with pytest.raises(D.BuildError, match=r"(?s)exited 101.*error\[E0308\]"):
        D.run_step(step, tmp_path / "build.log")
    with pytest.raises(D.BuildError, match="cannot run"):
        D.run_step(D.Step("x", ("/no/such/tool",), tmp_path), tmp_path / "build.log")


def test_cloud_swap_and_restore(cloud: D.CloudDriver, tmp_path: Path):
    layout, services = cloud.layout, cloud.services
    cloud.preflight()
    snap = cloud.snapshot()
    record = json.loads((cloud.backup_dir / "backup.json").read_text())
    assert record == snap.data
    tree = fake_boxlite(tmp_path / "wt-pr")
    build = cloud.build("pr", "fix", "e" * 40, tree, tmp_path / "out-pr")

    cloud.activate(build)
    assert (layout.bin_dir / "boxlite-runner").read_text().startswith("runner built in")
    assert os.access(layout.bin_dir / "boxlite-runner", os.X_OK)
    unit = services.config_path("boxlite-api").read_text()
    assert f"WorkingDirectory={tree / 'apps'}\n" in unit
    # the side's env file (its own database), the rest of the unit kept
    assert f"EnvironmentFile={build.artifacts['api_env']}\n" in unit
    assert "Description=BoxLite API" in unit
    assert services.calls == [
        ("stop", "boxlite-runner"),
        ("start", "boxlite-runner"),
        ("reload+restart", "boxlite-api"),
    ]
    assert cloud.health_calls == [1]
    assert cloud.fixtures == [build]  # fixture setup ran on the side's database

    # a second swap while one is active must not back the swapped build up as "original"
    with pytest.raises(D.BringUpError, match="--recover"):
        cloud.preflight()

    cloud.restore(snap)
    assert (layout.bin_dir / "boxlite-runner").read_text() == "original runner\n"
    assert services.config_path("boxlite-api").read_text() == unit_text(layout)
    assert not cloud.backup_dir.exists()
    cloud.preflight()  # clean again


def test_cloud_failed_restore_keeps_the_backup(cloud: D.CloudDriver, tmp_path: Path):
    snap = cloud.snapshot()
    cloud.services.fail_on = "start"
    with pytest.raises(D.RestoreError, match="originals are kept"):
        cloud.restore(snap)
    assert (cloud.backup_dir / "boxlite-runner").read_text() == "original runner\n"


def test_cloud_swap_failure_is_bring_up_error(cloud: D.CloudDriver, tmp_path: Path):
    cloud.snapshot()
    build = cloud.build("main", "main", "f" * 40, fake_boxlite(tmp_path / "wt"), tmp_path / "o")
    cloud.services.fail_on = "stop"
    with pytest.raises(D.BringUpError, match="swapping in main"):
        cloud.activate(build)


def test_cloud_preflight_needs_a_bootstrapped_stack(tmp_path: Path):
    layout = Layout(tmp_path)
    driver = D.CloudDriver(layout, cache_dir=tmp_path, services=FakeServices(tmp_path))
    with pytest.raises(D.BringUpError, match="bootstrap.sh --stack cloud"):
        driver.preflight()


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    [
        ("systemd", "WorkingDirectory=/a/apps\n", "WorkingDirectory=/wt/50%/apps\n"),
        ("supervisor", "directory=/a/apps\n", "directory=/wt/50%%/apps\n"),
    ],
)
def test_retarget_workdir(kind: str, before: str, after: str):
    text = f"[x]\ncommand=y\n{before}user=z\n"
    assert (
        D.retarget_workdir(text, kind, Path("/wt/50%/apps")) == f"[x]\ncommand=y\n{after}user=z\n"
    )
    with pytest.raises(D.BringUpError, match="expected 1"):
        D.retarget_workdir("[x]\n", kind, Path("/wt"))


def test_make_and_load_driver(tmp_path: Path):
    layout = Layout(tmp_path)
    kw = {"harness_root": tmp_path, "layout": layout, "env": {}, "cache_dir": tmp_path}
    assert isinstance(D.make_driver("standin", **kw), D.StandinDriver)
    assert isinstance(D.make_driver("cloud", **kw), D.CloudDriver)
    with pytest.raises(D.DriverError, match="unknown stack"):
        D.make_driver("kvm", **kw)
    plugin = tmp_path / "my_driver.py"
    plugin.write_text("from lib.proof.stack_driver import StandinDriver\nmake = lambda: 'made'\n")
    assert D.load_driver(f"{plugin}:make") == "made"
    with pytest.raises(D.DriverError, match="expected module:factory"):
        D.load_driver("nocolon")
