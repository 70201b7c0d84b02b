"""What differs per stack when two-sided swaps one build for another.

`lib/proof/two_sided.py` owns the procedure (worktrees, interleaving, verdict, cleanup); a driver
owns the stack-specific verbs, so the procedure is tested once with a fake driver and each
driver's plan is tested on its own:

    preflight()                 is the stack there at all? (else exit 125, nothing touched)
    snapshot() -> Snapshot      record what runs now, back it up (the state restore returns to)
    build(side, ref, sha, tree, out) -> SideBuild    build that ref's components from its tree
    activate(build)             swap them in, restart, wait for health (BringUpError -> 125)
    restore(snapshot)           put the original back and restart (RestoreError -> exit 128)

Stand-in: a ref's "build" is the faults it declares in `.boxlite-e2e/standin-faults` (one
`NAME[=P]` per line, `#` comments; a missing file means no faults), validated with
`standin.faults.parse_faults`; activating it restarts the stand-in API and runner with those
faults and then checks `GET /api/v1/_standin/faults` reports exactly them, so a side can
never silently run the other side's build. The snapshot is the fault set running before.

Cloud (a KVM host with the stack from `bootstrap.sh --stack cloud`): per ref, from its
worktree, the build its own era needs (lib/stack/checkout.py detects it, an unknown layout
is a BuildError; lib/stack/cloud_build.py lists the steps bootstrap runs too: submodules,
runtime, `libboxlite.a` staged where that tree's Go SDK links it, daemon assets, the runner,
the API's dependencies), with one cargo target dir shared by both sides so re-runs are
incremental, and the Python SDK wheel (maturin, through pip). Each side gets its own
database (dropped and created for the run; RUN_MIGRATIONS applies that side's migrations
there, never to the original's) through its own copy of the API env file, and fixture
setup on it, writing the side's credentials profile into the side's BOXLITE_HOME. The
runner binary is swapped in `{bin}/boxlite-runner` and the API by pointing its service's
working directory and env file (systemd unit or supervisor program, as bootstrap wrote it)
at the tree's `apps/` and the side's env file, both backed up first; the SDK is not
installed anywhere shared: the wheel is unpacked into the side's output dir and put first
on the cases' PYTHONPATH, so the harness venv never changes and needs no restore. Health
is `/api/health/ready` with the health-check key plus the default runner `ready` in the
admin runner list.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lib import processes
from lib.errors import HarnessError
from lib.layout import Layout
from lib.names import API_SERVICE, RUNNER_BINARY, RUNNER_SERVICE
from lib.stack import checkout, cloud_build
from lib.stack import secrets as secrets_mod
from lib.stack.bootstrap.cloud import tool_env
from lib.stack.bootstrap.cloud_data import DB_NAME, DB_ROLE
from lib.stack.cloud_build import Step
from standin import atomicfile

FAULTS_FILE = ".boxlite-e2e/standin-faults"


class DriverError(HarnessError):
    """Base of the errors a driver raises; the message is shown to the user as is."""


class BuildError(DriverError):
    """A side could not be built (two-sided exit 125)."""


class BringUpError(DriverError):
    """The stack is missing, or a side did not come up healthy (two-sided exit 125)."""


class RestoreError(DriverError):
    """The original build could not be put back (two-sided exit 128: the host needs care)."""


@dataclass
class SideBuild:
    """One side's build: ref and sha, worktree, artifacts to swap in, report info and extra env
    for the case runs."""

    side: str
    ref: str
    sha: str
    worktree: Path
    info: dict[str, Any] = field(default_factory=dict)  # JSON-able, goes into the report
    artifacts: dict[str, Path] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # extra env for the case runs


@dataclass
class Snapshot:
    """What ran before two-sided touched anything; `info` goes into the report."""

    info: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


class StackDriver(abc.ABC):
    """How two-sided builds each side, swaps it into the running stack and puts the original
    back."""

    name: str = "?"

    def preflight(self) -> None:  # noqa: B027 - optional hook, default: nothing to check
        """Raise BringUpError when the stack is not there to swap builds into."""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """Record what runs now, before anything is swapped, so `restore` can put it back."""

    @abc.abstractmethod
    def build(self, side: str, ref: str, sha: str, tree: Path, out_dir: Path) -> SideBuild:
        """Build `side` from the worktree `tree` into `out_dir`; BuildError when it cannot."""

    @abc.abstractmethod
    def activate(self, build: SideBuild) -> None:
        """Make `build` the running stack and return once it is healthy; BringUpError when it is
        not."""

    @abc.abstractmethod
    def restore(self, snapshot: Snapshot) -> None:
        """Put the snapshot's build back; RestoreError when that fails."""


# --------------------------------------------------------------------------- stand-in


def canonical_faults(values: Iterable[str]) -> list[str]:
    """Validated, sorted `NAME` / `NAME=P` strings (p = 1 is written as the bare name)."""
    from standin.faults import FaultError, parse_faults

    try:
        active = parse_faults(list(values))
    except FaultError as exc:
        raise BuildError(str(exc)) from None
    return sorted(
        name if fault.probability >= 1.0 else f"{name}={fault.probability:g}"
        for name, fault in active.items()
    )


def declared_faults(tree: Path) -> list[str]:
    """The faults a ref declares in its FAULTS_FILE; none when the file is absent."""
    path = tree / FAULTS_FILE
    if not path.is_file():
        return []
    lines = [raw.split("#", 1)[0].strip() for raw in path.read_text().splitlines()]
    try:
        return canonical_faults(line for line in lines if line)
    except BuildError as exc:
        raise BuildError(f"{FAULTS_FILE}: {exc}") from None


def faults_from_report(doc: Any) -> list[str]:
    """Canonical fault list from a `GET .../_standin/faults` body.

    The API answers with its own and the runner's faults, each carrying `component`; the
    exact nesting is not relied on: every object with a `name` under a `faults` list counts.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "faults" and isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict) and "name" in item:
                            prob = float(item.get("probability", 1.0))
                            found.append(
                                item["name"] if prob >= 1.0 else f"{item['name']}={prob:g}"
                            )
                        else:
                            walk(item)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return sorted(set(found))


class StandinControl(Protocol):
    """How the stand-in driver restarts the stand-in and asks which faults it runs."""

    def current_faults(self) -> list[str]:
        """What the running stand-in reports; BringUpError when it does not answer."""
        ...

    def restart(self, faults: list[str]) -> None:
        """Restart the stand-in API and runner with exactly these faults."""
        ...


def switch_faults(control: StandinControl, faults: list[str], settle: float = 30.0) -> None:
    """Restart the stand-in with exactly `faults`, then wait (bounded) until it reports them.

    A run must never start on the previous fault set: `restart` returns once the stack is
    healthy, and the check here is that it runs *these* faults. BringUpError otherwise.
    """
    control.restart(faults)
    end = time.monotonic() + settle
    while (now := control.current_faults()) != faults:
        if time.monotonic() >= end:
            raise BringUpError(f"the stand-in reports faults {now}, expected {faults}")
        time.sleep(0.1)


class BootstrapControl:
    """The real stand-in: restart through `bootstrap.sh --stack standin`, read faults over HTTP."""

    def __init__(self, harness_root: Path, layout: Layout, env: Mapping[str, str]) -> None:
        self.harness_root = harness_root
        self.layout = layout
        self.env = dict(env)

    def _admin_key(self) -> str:
        from lib.stack import secrets

        try:
            key = secrets.load(self.layout.secrets_file).get("ADMIN_API_KEY", "")
        except secrets.SecretsError as exc:
            raise BringUpError(str(exc)) from None
        if not key:
            raise BringUpError(
                f"no ADMIN_API_KEY in {self.layout.secrets_file}: "
                "bring the stand-in up first (make test:e2e:setup BOXLITE_E2E_STACK=standin)"
            )
        return key

    def current_faults(self) -> list[str]:
        """GET the stand-in API's `/v1/_standin/faults` with the admin key."""
        import httpx

        url = f"{self.layout.api_url}/v1/_standin/faults"
        try:
            resp = httpx.get(
                url, headers={"Authorization": f"Bearer {self._admin_key()}"}, timeout=10
            )
        except httpx.HTTPError as exc:
            raise BringUpError(
                f"the stand-in API does not answer at {url} ({exc}); bring it up first "
                "(./bootstrap.sh --stack standin)"
            ) from None
        if resp.status_code != 200:
            raise BringUpError(f"GET {url}: HTTP {resp.status_code} {resp.text[:200]}")
        return faults_from_report(resp.json())

    def restart(self, faults: list[str]) -> None:
        """`bootstrap.sh --stack standin --only services,health` with these faults, in its own
        session."""
        argv = [str(self.harness_root / "bootstrap.sh"), "--stack", "standin"]
        argv += ["--only", "services,health"]
        for fault in faults or ["none"]:
            argv += ["--fault", fault]
        processes.run(
            argv,
            cwd=self.harness_root,
            env=self.env,
            error=BringUpError,
            # Out of the terminal's process group: a second Ctrl-C while two_sided restores
            # must not kill the restoring bootstrap (two_sided defers signals for itself).
            new_session=True,
        )


class StandinDriver(StackDriver):
    """A side is a set of stand-in faults (read from the side's tree): swapping sides restarts
    the stand-in with them."""

    name = "standin"

    def __init__(self, control: StandinControl, settle_deadline: float = 30.0) -> None:
        self.control = control
        self.settle_deadline = settle_deadline

    def preflight(self) -> None:
        """Stand-in: it must answer its faults endpoint."""
        self.control.current_faults()

    def snapshot(self) -> Snapshot:
        """Stand-in: the faults it runs now."""
        faults = self.control.current_faults()
        return Snapshot(info={"faults": faults}, data={"faults": faults})

    def build(self, side: str, ref: str, sha: str, tree: Path, out_dir: Path) -> SideBuild:
        """Stand-in: nothing to compile; the faults the side's tree declares."""
        faults = declared_faults(tree)
        return SideBuild(side, ref, sha, tree, info={"faults": faults, "faults_file": FAULTS_FILE})

    def _switch(self, faults: list[str], error: type[DriverError]) -> None:
        try:
            switch_faults(self.control, faults, self.settle_deadline)
        except DriverError as exc:
            if isinstance(exc, error):
                raise
            raise error(str(exc)) from None

    def activate(self, build: SideBuild) -> None:
        """Stand-in: restart with the side's faults, wait until it reports exactly those."""
        self._switch(build.info["faults"], BringUpError)

    def restore(self, snapshot: Snapshot) -> None:
        """Stand-in: restart with the original faults (RestoreError on failure)."""
        self._switch(snapshot.data["faults"], RestoreError)


# --------------------------------------------------------------------------- cloud


class ServiceControl(Protocol):
    """The part of `lib.stack.services.ServiceManager` the cloud driver uses."""

    kind: str

    def config_path(self, name: str) -> Path:
        """The service's unit or program file."""

    def stop(self, name: str) -> None:
        """Stop `name` and return once it is down (the runner binary is replaced next)."""

    def start(self, name: str) -> None:
        """Start `name` on what is installed now."""

    def reload(self, name: str) -> None:
        """Re-read the service's rewritten config and restart it on it."""


def retarget_workdir(config: str, kind: str, new_dir: Path) -> str:
    """The API service config with its working directory moved to `new_dir`.

    bootstrap runs the cloud API with ts-node from `<checkout>/apps` (systemd
    `WorkingDirectory=`, supervisor `directory=`); pointing that line at a worktree's `apps/`
    is how a side's API is swapped in without touching the user's checkout.
    """
    key = "WorkingDirectory=" if kind == "systemd" else "directory="
    value = str(new_dir) if kind == "systemd" else str(new_dir).replace("%", "%%")
    lines = config.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.startswith(key)]
    if len(hits) != 1:
        raise BringUpError(f"the API service config has {len(hits)} `{key}` lines, expected 1")
    lines[hits[0]] = f"{key}{value}\n"
    return "".join(lines)


def retarget_env_file(config: str, old: Path, new: Path) -> str:
    """The API service config reading `new` instead of the stack's env file (systemd
    `EnvironmentFile=`, supervisor's `envfile exec FILE` command line)."""
    if str(old) not in config:
        raise BringUpError(f"the API service config does not name {old}")
    return config.replace(str(old), str(new))


def run_step(step: Step, log: Path) -> None:
    """Run one build step (stdin closed, output to `log`); BuildError with the tail."""
    try:
        cloud_build.run_step(step, log, {**os.environ, **tool_env()})
    except cloud_build.StepFailed as exc:
        raise BuildError(str(exc)) from None


def side_database(side: str) -> str:
    """Each side migrates its own database (issue 13 M5): RUN_MIGRATIONS=true would otherwise
    apply a PR's migration to the one database the original build uses, and restoring the
    binaries would not undo it."""
    return f"{DB_NAME}_2s_{side}"


def side_env_text(original: str, database: str) -> str:
    """The API env file with DB_DATABASE pointed at the side's own database."""
    lines = [line for line in original.splitlines() if not line.startswith("DB_DATABASE=")]
    return "\n".join([*lines, f"DB_DATABASE={database}"]) + "\n"


def fresh_database(layout: Layout, database: str) -> None:
    """Drop and create `database` as the stack's role (CREATEDB), over TCP on loopback."""
    password = secrets_mod.load(layout.secrets_file).get("DB_PASSWORD", "")
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    base = ["psql", "-h", "127.0.0.1", "-p", str(layout.postgres_port), "-U", DB_ROLE,
            "-d", DB_NAME, "-v", "ON_ERROR_STOP=1", "-q"]  # fmt: skip
    for sql in (f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"'):
        done = subprocess.run(
            [*base, "-c", sql], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise BuildError(f"database {database}: {sql} failed: {done.stderr.strip()[-300:]}")


def side_fixture(build: SideBuild) -> None:
    """fixture_setup against the side's own database, its profile in the side's BOXLITE_HOME."""
    from lib.stack import fixture_setup

    env = {**os.environ, **build.env, "BOXLITE_E2E_STACK": "cloud"}
    if fixture_setup.main(["--stack", "cloud"], env=env) != 0:
        raise BringUpError(f"fixture setup on {build.side}'s database failed (see above)")


class CloudDriver(StackDriver):
    """The real stack on a KVM host. Every side effect goes through an injectable callable
    (`run`, `services`, `health`), so the whole plan is checked with fakes off-KVM."""

    name = "cloud"

    def __init__(
        self,
        layout: Layout,
        *,
        cache_dir: Path,
        python: str = sys.executable,
        run: Callable[[Step, Path], None] = run_step,
        services: ServiceControl | None = None,
        health: Callable[[], None] | None = None,
        database: Callable[[str], None] | None = None,
        fixture: Callable[[SideBuild], None] = side_fixture,
    ) -> None:
        self.layout = layout
        self.cache_dir = cache_dir
        self.python = python
        self.run = run
        self._services = services
        self._health = health
        self.database = database or (lambda name: fresh_database(layout, name))
        self.fixture = fixture

    # where things are
    @property
    def runner_bin(self) -> Path:
        """The installed runner binary the swap replaces."""
        return self.layout.bin_dir / RUNNER_BINARY

    @property
    def backup_dir(self) -> Path:
        """Where the original runner and API config are kept during a run."""
        return self.layout.state_dir / "two-sided-backup"

    @property
    def services(self) -> ServiceControl:
        """The service layer (systemd or supervisor), from `lib.stack.services` unless injected."""
        if self._services is None:
            from lib.stack import services  # the bootstrap's service layer (systemd or supervisor)

            self._services = services.manager_for(self.layout)
        return self._services

    def health(self) -> None:
        """Wait for the API's /health, then /health/ready (it reaches the runner); BringUpError
        otherwise."""
        if self._health is not None:
            self._health()
            return
        from lib.stack.health import HealthError, LogRef, wait_api_ready, wait_http

        try:
            values = secrets_mod.load(self.layout.secrets_file)
            wait_http("API", f"{self.layout.api_url}/health", deadline=180)
            # The health-check key, not the admin key, opens /health/ready (issue 13 B5);
            # the default runner `ready` in the admin list proves the swap is live.
            wait_api_ready(
                self.layout.api_url,
                health_key=values.get("HEALTH_CHECK_API_KEY", ""),
                admin_key=values.get("ADMIN_API_KEY", ""),
                stack="cloud",
                deadline=120,
                log=LogRef(unit=RUNNER_SERVICE),
            )
        except (HealthError, secrets_mod.SecretsError) as exc:
            raise BringUpError(str(exc)) from None

    # the plan
    def build_plan(self, tree: Path, out_dir: Path) -> list[Step]:
        """The tree's own era decides the steps (lib/stack/cloud_build.py); an unknown
        layout is a BuildError before anything runs."""
        try:
            co = checkout.detect(tree)
        except checkout.UnknownLayout as exc:
            raise BuildError(str(exc)) from None
        target = self.cache_dir / "cargo-target"
        return [
            *cloud_build.runner_plan(co, out_dir / "boxlite-runner", target_dir=target),
            *cloud_build.api_plan(co),
            Step(
                # pip drives the checkout's own build backend (maturin), as bootstrap does;
                # no maturin CLI needed on PATH.
                "python sdk wheel",
                (
                    self.python,
                    "-m",
                    "pip",
                    "wheel",
                    "-q",
                    "--no-deps",
                    "-w",
                    str(out_dir / "wheels"),
                    ".",
                ),
                tree / "sdks/python",
            ),  # fmt: skip
        ]

    def build(self, side: str, ref: str, sha: str, tree: Path, out_dir: Path) -> SideBuild:
        """Cloud: run the build plan, check runner, wheel and API source are there, unpack the
        SDK for the case runs."""
        out_dir.mkdir(parents=True, exist_ok=True)
        log = out_dir / "build.log"
        for step in self.build_plan(tree, out_dir):
            self.run(step, log)
        runner = out_dir / RUNNER_BINARY
        if not runner.is_file():
            raise BuildError(f"runner: go build made no {runner}")
        wheels = sorted((out_dir / "wheels").glob("boxlite-*.whl"))
        if len(wheels) != 1:
            raise BuildError(
                f"python sdk: expected one boxlite wheel in {out_dir}/wheels, got {wheels}"
            )
        sdk = out_dir / "sdk"
        self.run(
            Step(
                "python sdk unpack",
                (
                    self.python,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    "--target",
                    str(sdk),
                    str(wheels[0]),
                ),
                out_dir,
            ),
            log,
        )
        api_dir = tree / "apps"
        if not (api_dir / "api/src/main.ts").is_file():
            raise BuildError(f"api: no apps/api/src/main.ts in {ref}")
        database = side_database(side)
        self.database(database)  # fresh for this run: migrations start from nothing
        api_env = out_dir / "api.env"
        try:
            original_env = self.layout.env_file.read_text()
        except OSError as exc:
            raise BuildError(f"api: cannot read {self.layout.env_file}: {exc.strerror}") from None
        secrets_mod.write_private(api_env, side_env_text(original_env, database))
        return SideBuild(
            side,
            ref,
            sha,
            tree,
            info={
                "components": ["runtime", "libboxlite.a", "runner", "api", "python-sdk"],
                "build_log": str(log),
                "database": database,
            },
            artifacts={
                "runner": runner,
                "api": api_dir,
                "wheel": wheels[0],
                "sdk": sdk,
                "api_env": api_env,
            },
            env={
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(sdk), os.environ.get("PYTHONPATH")])
                ),
                # The side's own credentials profile (its key lives in its database).
                "BOXLITE_HOME": str(out_dir / "home"),
            },
        )

    # swapping
    @property
    def api_config(self) -> Path:
        """The API service's unit or program file (its workdir is what a swap retargets)."""
        return self.services.config_path(API_SERVICE)

    def preflight(self) -> None:
        """Cloud: refuse a left-over backup (an unrestored run) and a stack without runner or API
        service."""
        record = self.backup_dir / "backup.json"
        if record.is_file():
            # An earlier run was killed before restoring: what runs now is one of its sides,
            # and backing that up as "the original" would lose the real original for good.
            raise BringUpError(
                f"{record} exists: an earlier two-sided run did not restore the stack; run "
                "./two_sided.sh --recover (or put back what it names by hand)"
            )
        if not self.runner_bin.is_file():
            raise BringUpError(f"no runner at {self.runner_bin}: run ./bootstrap.sh --stack cloud")
        if not self.api_config.is_file():
            raise BringUpError(
                f"no API service at {self.api_config}: run ./bootstrap.sh --stack cloud"
            )

    def snapshot(self) -> Snapshot:
        """Cloud: copy the runner binary and API config aside, recorded in backup.json for
        `--recover`."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        runner_backup = self.backup_dir / RUNNER_BINARY
        api_backup = self.backup_dir / self.api_config.name
        shutil.copy2(self.runner_bin, runner_backup)
        shutil.copy2(self.api_config, api_backup)
        record = {
            "runner": str(self.runner_bin),
            "runner_backup": str(runner_backup),
            "api_config": str(self.api_config),
            "api_config_backup": str(api_backup),
        }
        # On disk too, written last: after a SIGKILL `--recover` (or a person) puts it back.
        (self.backup_dir / "backup.json").write_text(json.dumps(record, indent=2) + "\n")
        return Snapshot(info=record, data=record)

    def _install(self, runner: Path, api_config_text: str) -> None:
        self.services.stop(RUNNER_SERVICE)
        tmp = self.runner_bin.with_name(".boxlite-runner.two-sided")
        shutil.copy2(runner, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, self.runner_bin)  # atomic: never a half-written binary in place
        self.services.start(RUNNER_SERVICE)
        if self.api_config.read_text() != api_config_text:
            atomicfile.write_text(self.api_config, api_config_text)
        # daemon-reload / supervisor update, and restart the API on its (new) source tree
        self.services.reload(API_SERVICE)

    def activate(self, build: SideBuild) -> None:
        """Cloud: install the side's runner, point the API service at its source tree, wait
        healthy."""
        try:
            original = Path(self.backup_dir / self.api_config.name).read_text()
            config = retarget_workdir(original, self.services.kind, build.artifacts["api"])
            config = retarget_env_file(config, self.layout.env_file, build.artifacts["api_env"])
            self._install(build.artifacts["runner"], config)
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            # RuntimeError: lib.stack.services.ServiceError (systemctl / supervisord said no)
            raise BringUpError(f"swapping in {build.side} ({build.ref}): {exc}") from None
        self.health()
        self.fixture(build)

    def restore(self, snapshot: Snapshot) -> None:
        """Cloud: reinstall the backed-up runner and API config, wait healthy, drop the backup."""
        data = snapshot.data
        try:
            self._install(Path(data["runner_backup"]), Path(data["api_config_backup"]).read_text())
            self.health()
        except (OSError, subprocess.SubprocessError, RuntimeError, DriverError) as exc:
            raise RestoreError(
                f"restoring the original stack failed ({exc}); the originals are kept: "
                f"runner {data['runner_backup']}, API service config {data['api_config_backup']}"
            ) from None
        shutil.rmtree(self.backup_dir, ignore_errors=True)


# --------------------------------------------------------------------------- selection


def load_driver(spec: str, **kwargs: Any) -> StackDriver:
    """A driver from `package.module:factory` or `/path/file.py:factory` (extension hook,
    used by the self-tests to run the real orchestration against a fake stack)."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise DriverError(f"DRIVER={spec!r}: expected module:factory or file.py:factory")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if module_spec is None or module_spec.loader is None:
            raise DriverError(f"DRIVER={spec!r}: cannot load {target}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)(**kwargs)


def make_driver(
    stack: str, *, harness_root: Path, layout: Layout, env: Mapping[str, str], cache_dir: Path
) -> StackDriver:
    """The built-in driver for `stack` (standin or cloud); DriverError for another name."""
    if stack == "standin":
        return StandinDriver(BootstrapControl(harness_root, layout, env))
    if stack == "cloud":
        return CloudDriver(layout, cache_dir=cache_dir)
    raise DriverError(f"unknown stack {stack!r} (standin or cloud)")
