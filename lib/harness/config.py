"""The run's configuration, resolved once into one frozen object.

Precedence, key by key: `BOXLITE_E2E_*` environment > the credentials profile > stack
defaults. This module is the only reader of the environment, so there is one set of
defaults and one truthiness rule; everything else gets a `Config` (history: docs/history.md).

Decisions (documented in docs/architecture.md's harness section as well):

- **Stack**: `BOXLITE_E2E_STACK` > profile key `stack` > detected: an API that answers
  `GET /v1/_standin/faults` with a fault list is the stand-in, anything else is `cloud`.
  Detection, not a fixed default, because a wrong default silently changes `known_bug`
  semantics (stand-in: xfail only when the fault is injected; cloud: always).
- **Prefix**: `BOXLITE_E2E_PREFIX` (set, even empty, wins: empty means no prefix) > profile
  `path_prefix` > discovered from `GET {url}/v1/me` (`path_prefix`).
- `GET /v1/me` is always called: it proves the API is reachable and the key is accepted
  before 40 cases fail one by one. A server without `/v1/me` (a bare runner) is accepted only
  when the prefix is given.
- **Logs**: runner: `RUNNER_LOG` (a file) > `RUNNER_JOURNAL` (a journal dir/file, with
  `RUNNER_UNIT`) > `RUNNER_UNIT` (system journal) > bootstrap's record (`stack.json`:
  journal unit `boxlite-runner` under systemd, the layout's runner log file under
  supervisor) > stack default (stand-in: the file; cloud: the journal unit).
  API: `API_LOG` > the layout's API log file.
- `PATH_DEADLINE` (seconds, default 5): how long path verification waits for late log
  lines; it returns as soon as every id is seen, so this only bounds a miss.
- `SKIP_PATH_VERIFY` is true only for 1/true/yes/on (any case); anything else, `0`
  included, keeps the check on.
- Network: `NETWORK_PROFILE` (`wan`, `transparent` or `;`-separated fault words) puts a
  netfault proxy in front of the API for every runtime and raw client of the run;
  `NETFAULTS` (`marked` default, `transparent`, or one fault name) says which of a case's
  own `netfault(...)` marks apply (positive controls and mutation-matrix rows).
- Case knobs: `P06_BOXES` (default 3) and `P06_EXECS` (default 40) size the p0_6 race
  (boxes x execs per box). Positive integers; anything else is a `ConfigError`, never a
  silent default. Cases read them from the `Config` (`e2e_config.p06_boxes`), like the rest.
- **SDK axis** (`Config.sdks`, lib/harness/sdk/availability.py): `SDKS` (comma list of
  python, node, go; default all), `NODE` (the node binary), `GO_DRIVER` (the Go driver
  binary). An SDK that is missing carries the reason it is not applicable.

Errors are `ConfigError` with one message meant for a human; the plugin turns it into
`pytest.exit(..., returncode=2)` before collection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from lib.errors import HarnessError
from lib.harness import credentials
from lib.harness.api import UPSTREAM_MIN_AUTO_STOP_S, ApiUnreachable, StackFacts, probe_stack
from lib.harness.netfault import faults as netfaults
from lib.harness.sdk.availability import Availability, SdkSelectionError, detect_all
from lib.harness.sdk.availability import parse_selection as parse_sdk_selection
from lib.layout import Layout
from lib.names import REPO_ROOT, RUNNER_SERVICE

ENV_PREFIX = "BOXLITE_E2E_"
STACKS = ("standin", "cloud")
DEFAULT_PROFILE = "p1"
DEFAULT_IMAGES = {"standin": "e2e/busybox:stable", "cloud": "alpine:3.23"}
# An image that is NOT a curated snapshot, for the image catalog cases: the same stand-in
# image named through the local registry's host (so no snapshot matches it), or upstream's
# test_images_catalog default on the cloud (small, public, on an allow-listed host).
CLOUD_CATALOG_IMAGE = "quay.io/libpod/alpine:latest"
DEFAULT_RUNNER_UNIT = RUNNER_SERVICE
TRUTHY = frozenset({"1", "true", "yes", "on"})

# Every variable this module reads (for docs and for the summary's "config from" line).
ENV_VARS = (
    "API_URL",
    "API_KEY",
    "PROFILE",
    "PREFIX",
    "IMAGE",
    "CATALOG_IMAGE",
    "CLI",
    "SKIP_PATH_VERIFY",
    "RUNNER_UNIT",
    "RUNNER_LOG",
    "RUNNER_JOURNAL",
    "API_LOG",
    "STACK",
    "RESULTS_DIR",
    "PATH_DEADLINE",
    "P06_BOXES",
    "P06_EXECS",
    "NETWORK_PROFILE",
    "NETFAULTS",
    "RUNS_DIR",
    "RUN_ID",
    "SDKS",
    "NODE",
    "GO_DRIVER",
)
DEFAULT_PATH_DEADLINE = 5.0
DEFAULT_P06_BOXES = 3
DEFAULT_P06_EXECS = 40


class ConfigError(HarnessError):
    """The run cannot start; the message says what is missing and how to fix it."""


def truthy(value: str | None) -> bool:
    """Whether an environment value says yes (1/true/yes/on, any case); unset is no."""
    return (value or "").strip().lower() in TRUTHY


@dataclass(frozen=True)
class Fault:
    """A fault the stand-in reports as active, with the upstream issue it reproduces."""

    name: str
    issue: str
    component: str
    probability: float = 1.0


@dataclass(frozen=True)
class RunnerLog:
    """Where the runner logs: a plain file, or a systemd unit's journal (system journal, or a
    dir/file at `path`)."""

    kind: str  # "file" | "journal"
    path: Path | None = None  # file, or journal dir/file for kind=journal
    unit: str | None = None


@dataclass(frozen=True)
class SecondOrg:
    """Another organization on the same stack: its API URL, path prefix and key."""

    api_url: str
    prefix: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class Config:
    """Everything a case run needs, resolved once from env, profile and the stack's own answers;
    `sources` says which won for each key."""

    stack: str
    api_url: str
    api_key: str = field(repr=False)
    prefix: str
    image: str
    cli: str | None
    skip_path_verify: bool
    path_deadline: float
    runner_log: RunnerLog
    api_log: Path
    results_dir: Path
    profile: str
    credentials_file: Path
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> env|profile|default|...
    faults: tuple[Fault, ...] = ()
    capabilities: frozenset[str] = frozenset()
    versions: Mapping[str, Any] = field(default_factory=dict)
    principal: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # A second org and its own key, for cross-org cases (fixture setup provisions it);
    # None when the profile has none (those cases are then not applicable, and say so).
    second_org: SecondOrg | None = field(default=None, repr=False)
    # The org's per-box CPU ceiling as fixture setup read it with the admin key (the cases
    # run with an org key, which admin routes refuse); None when the stack has none.
    max_cpus_per_box: int | None = None
    # Case knobs: the p0_6 race's boxes and execs per box.
    p06_boxes: int = DEFAULT_P06_BOXES
    p06_execs: int = DEFAULT_P06_EXECS
    # Case knob: the non-curated image the catalog cases boot (see CLOUD_CATALOG_IMAGE).
    catalog_image: str = CLOUD_CATALOG_IMAGE
    # Network faults (lib.harness.netfault): the profile every runtime of the run goes
    # through (None: straight to the API), and which of a case's own `netfault` marks apply.
    network_profile: str | None = None
    case_netfaults: str = "marked"
    # The smallest non-zero auto_stop the API accepts: upstream's 60 s on the cloud stack;
    # the stand-in reports its own (lowered so lifecycle cases take seconds, stand-in only).
    lifecycle_floor: int = UPSTREAM_MIN_AUTO_STOP_S
    # Liveness records of runs (lib.harness.runlease) and a run id chosen by the caller
    # (two_sided passes one, so it can sweep the run's boxes if it has to kill it).
    runs_dir: Path = Path("/nonexistent")
    run_id: str | None = None
    # The SDK axis: every SDK, available or with the reason it is not (lib.harness.sdk).
    sdks: Mapping[str, Availability] = field(default_factory=dict)

    def active_issues(self) -> frozenset[str]:
        """Upstream issues the active faults reproduce (a known_bug on one of them is expected to
        show)."""
        return frozenset(f.issue for f in self.faults if f.issue)

    def describe(self) -> dict[str, Any]:
        """Everything but secrets, for headers and summary.json."""
        return {
            "stack": self.stack,
            "api_url": self.api_url,
            "prefix": self.prefix,
            "profile": self.profile,
            "image": self.image,
            "cli": self.cli,
            "skip_path_verify": self.skip_path_verify,
            "path_deadline": self.path_deadline,
            "runner_log": {
                "kind": self.runner_log.kind,
                "path": str(self.runner_log.path) if self.runner_log.path else None,
                "unit": self.runner_log.unit,
            },
            "api_log": str(self.api_log),
            "results_dir": str(self.results_dir),
            "sources": dict(self.sources),
            "faults": [vars(f) for f in self.faults],
            "capabilities": sorted(self.capabilities),
            "versions": dict(self.versions),
            "p06_boxes": self.p06_boxes,
            "p06_execs": self.p06_execs,
            "catalog_image": self.catalog_image,
            "lifecycle_floor_s": self.lifecycle_floor,
            "runs_dir": str(self.runs_dir),
            "second_org": self.second_org.prefix if self.second_org else None,
            "max_cpus_per_box": self.max_cpus_per_box,
            "network_profile": self.network_profile,
            "case_netfaults": self.case_netfaults,
            "sdks": {name: a.to_json() for name, a in self.sdks.items()},
        }


Probe = Callable[[str, str], StackFacts]


def _env(env: Mapping[str, str], key: str) -> str | None:
    """The value of BOXLITE_E2E_<key> when set and non-blank, else None."""
    value = env.get(ENV_PREFIX + key)
    if value is None or not value.strip():
        return None
    return value.strip()


def load(env: Mapping[str, str] | None = None, *, probe: Probe | None = None) -> Config:
    """Resolve the configuration; raises `ConfigError` with one actionable message."""
    env = dict(os.environ if env is None else env)
    probe = probe or (lambda url, key: probe_stack(url, key))
    try:
        layout = Layout.from_env(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sources: dict[str, str] = {}

    # -- profile (only required when env does not give both URL and key)
    profile_name = _env(env, "PROFILE") or DEFAULT_PROFILE
    cred_file = credentials.credentials_path(env)
    try:
        profiles = credentials.load_profiles(cred_file)
    except credentials.CredentialsError as exc:
        raise ConfigError(str(exc)) from None
    profile = profiles.get(profile_name)
    env_key = _env(env, "API_KEY")
    if profile is None and (env_key is None or _env(env, "PROFILE") is not None):
        raise ConfigError(
            f"credentials profile {profile_name!r} not found in {cred_file}. "
            "Create it with `make test:e2e:setup` (fixture_setup.py), choose another with "
            "BOXLITE_E2E_PROFILE, or set BOXLITE_E2E_API_URL and BOXLITE_E2E_API_KEY."
        )
    profile = profile or {}

    def pick(key: str, profile_key: str | None, default: Any = None) -> Any:
        value = _env(env, key)
        if value is not None:
            sources[key.lower()] = "env"
            return value
        if profile_key and isinstance(profile.get(profile_key), str) and profile[profile_key]:
            sources[key.lower()] = f"profile {profile_name}"
            return profile[profile_key]
        if default is not None:
            sources[key.lower()] = "default"
        return default

    api_key = pick("API_KEY", "api_key")
    if not api_key:
        raise ConfigError(
            f"no API key: profile {profile_name!r} in {cred_file} has no api_key and "
            "BOXLITE_E2E_API_KEY is not set"
        )
    explicit_stack = pick("STACK", "stack")
    if explicit_stack is not None and explicit_stack not in STACKS:
        raise ConfigError(f"BOXLITE_E2E_STACK={explicit_stack!r}: expected one of {STACKS}")
    api_url = pick("API_URL", "url", layout.api_url if explicit_stack != "cloud" else None)
    if not api_url:
        raise ConfigError(
            "no API URL for the cloud stack: set BOXLITE_E2E_API_URL or `url` in the profile"
        )
    api_url = api_url.rstrip("/")

    # -- ask the stack (one clear message when it is not there)
    try:
        facts = probe(api_url, api_key)
    except ApiUnreachable as exc:
        raise ConfigError(
            f"API unreachable at {api_url} ({exc}). Is the stack up? "
            "Bring it up with `make test:e2e:setup` (bootstrap.sh), or point "
            "BOXLITE_E2E_API_URL / the profile's url at a running API."
        ) from None
    if facts.me.status in (401, 403):
        raise ConfigError(
            f"the API at {api_url} rejected the key (HTTP {facts.me.status} on GET /v1/me). "
            f"Re-run fixture setup to refresh profile {profile_name!r}, or fix "
            "BOXLITE_E2E_API_KEY."
        )

    prefix = _env_raw(env, "PREFIX")
    if prefix is not None:
        sources["prefix"] = "env"
    elif isinstance(profile.get("path_prefix"), str):
        prefix = profile["path_prefix"]
        sources["prefix"] = f"profile {profile_name}"
    elif facts.me.ok and isinstance(facts.me.body, dict) and "path_prefix" in facts.me.body:
        prefix = str(facts.me.body["path_prefix"] or "")
        sources["prefix"] = "GET /v1/me"
    else:
        raise ConfigError(
            f"cannot discover the org prefix: GET {api_url}/v1/me answered HTTP "
            f"{facts.me.status} without path_prefix. Set BOXLITE_E2E_PREFIX (empty for none)."
        )

    faults = _faults(facts)
    if explicit_stack is None:
        stack = "standin" if faults is not None else "cloud"
        sources["stack"] = "detected (GET /v1/_standin/faults)"
    else:
        stack = explicit_stack

    image = pick("IMAGE", "image", DEFAULT_IMAGES[stack])
    standin_catalog = f"127.0.0.1:{layout.registry_port}/{DEFAULT_IMAGES['standin']}"
    catalog_image = _env(env, "CATALOG_IMAGE") or (
        standin_catalog if stack == "standin" else CLOUD_CATALOG_IMAGE
    )
    sources["catalog_image"] = "env" if _env(env, "CATALOG_IMAGE") else "default"
    cli = _cli(env, sources)
    runner_log = _runner_log(env, stack, layout, sources)
    api_log = Path(_env(env, "API_LOG") or layout.api_log)
    sources["api_log"] = "env" if _env(env, "API_LOG") else "default"
    results = results_dir_of(env)
    runs_dir = Path(_env(env, "RUNS_DIR") or cred_file.parent / "e2e-runs")

    return Config(
        stack=stack,
        api_url=api_url,
        api_key=api_key,
        prefix=prefix,
        image=image,
        cli=cli,
        skip_path_verify=truthy(env.get(ENV_PREFIX + "SKIP_PATH_VERIFY")),
        path_deadline=_deadline(env),
        runner_log=runner_log,
        api_log=api_log,
        results_dir=results,
        profile=profile_name,
        credentials_file=cred_file,
        sources=sources,
        faults=tuple(faults or ()),
        capabilities=_capabilities(facts, cli),
        versions=_versions(facts),
        principal=facts.me.body if isinstance(facts.me.body, dict) else {},
        second_org=_second_org(env, profile, api_url, sources),
        max_cpus_per_box=_max_cpus(profile),
        p06_boxes=_positive_int(env, "P06_BOXES", DEFAULT_P06_BOXES, sources),
        p06_execs=_positive_int(env, "P06_EXECS", DEFAULT_P06_EXECS, sources),
        catalog_image=catalog_image,
        network_profile=_network_profile(env, sources),
        case_netfaults=_case_netfaults(env, sources),
        lifecycle_floor=_lifecycle_floor(facts, stack, sources),
        runs_dir=runs_dir,
        run_id=check_run_id(env),
        sdks=_sdks(env, layout),
    )


def _sdks(env: Mapping[str, str], layout: Layout) -> dict[str, Availability]:
    try:
        selection = parse_sdk_selection(_env(env, "SDKS"))
    except SdkSelectionError as exc:
        raise ConfigError(str(exc)) from None
    try:
        python_version = metadata.version("boxlite")
    except metadata.PackageNotFoundError:
        python_version = "unknown"
    return detect_all(
        env=env, bin_dir=layout.bin_dir, python_version=python_version, selection=selection
    )


def _network_profile(env: Mapping[str, str], sources: dict[str, str]) -> str | None:
    """BOXLITE_E2E_NETWORK_PROFILE (`wan`, `transparent`, or `;`-separated fault words)."""
    raw = _env(env, "NETWORK_PROFILE")
    if raw is None:
        return None
    try:
        netfaults.profile(raw)
    except netfaults.NetFaultError as exc:
        raise ConfigError(f"BOXLITE_E2E_NETWORK_PROFILE={raw!r}: {exc}") from None
    sources["network_profile"] = "env"
    return raw


def _case_netfaults(env: Mapping[str, str], sources: dict[str, str]) -> str:
    """BOXLITE_E2E_NETFAULTS: `marked` (default), `transparent`, or one fault name kept."""
    raw = _env(env, "NETFAULTS")
    if raw is None:
        return "marked"
    if raw not in ("marked", "transparent") and raw not in netfaults.SPECS:
        raise ConfigError(
            f"BOXLITE_E2E_NETFAULTS={raw!r}: expected marked, transparent or a network fault "
            f"name ({', '.join(sorted(netfaults.SPECS))})"
        )
    sources["case_netfaults"] = "env"
    return raw


def results_dir_of(env: Mapping[str, str] | None = None) -> Path:
    """Where results go, known even when the rest of the config cannot be resolved."""
    env = os.environ if env is None else env
    return Path(_env(env, "RESULTS_DIR") or REPO_ROOT / "results")


def check_run_id(env: Mapping[str, str]) -> str | None:
    """BOXLITE_E2E_RUN_ID: 8 lowercase hex digits (the box-name run id), or unset."""
    raw = _env(env, "RUN_ID")
    if raw is not None and not re.fullmatch(r"[0-9a-f]{8}", raw):
        raise ConfigError(f"BOXLITE_E2E_RUN_ID={raw!r}: expected 8 lowercase hex digits")
    return raw


def check_knobs(env: Mapping[str, str]) -> list[str]:
    """Every setting `load` validates without asking the stack; one message per bad one.

    For callers that pass settings on to a run (two_sided) and must refuse a bad one before
    spending minutes building: the same checks `load` applies, so they cannot drift apart.
    """
    problems = []
    checks: list[Callable[[], object]] = [
        lambda: _positive_int(env, "P06_BOXES", DEFAULT_P06_BOXES, {}),
        lambda: _positive_int(env, "P06_EXECS", DEFAULT_P06_EXECS, {}),
        lambda: _deadline(env),
        lambda: check_run_id(env),
        lambda: _network_profile(env, {}),
        lambda: _case_netfaults(env, {}),
        lambda: parse_sdk_selection(_env(env, "SDKS")),
        lambda: Layout.from_env(env),
    ]
    for check in checks:
        try:
            check()
        except (ConfigError, ValueError) as exc:
            problems.append(str(exc))
    stack = _env(env, "STACK")
    if stack is not None and stack not in STACKS:
        problems.append(f"BOXLITE_E2E_STACK={stack!r}: expected one of {STACKS}")
    unknown = sorted(
        k
        for k in env
        if k.startswith(ENV_PREFIX)
        and k.removeprefix(ENV_PREFIX) not in ENV_VARS
        and k.removeprefix(ENV_PREFIX) in _CASE_KNOB_LOOKALIKES
    )
    problems += [f"{k}: not a setting this harness reads" for k in unknown]
    return problems


# Misspellings worth refusing (a knob that silently does nothing looks like a pass).
_CASE_KNOB_LOOKALIKES = frozenset({"P06_BOX", "P06_EXEC", "P6_BOXES", "P6_EXECS"})


def _lifecycle_floor(facts: StackFacts, stack: str, sources: dict[str, str]) -> int:
    """The stand-in says which floor it runs with; the real API's is upstream's constant."""
    answer = facts.lifecycle
    body = answer.body if answer is not None and answer.ok else None
    floor = body.get("min_auto_stop_s") if isinstance(body, dict) else None
    if stack == "standin" and isinstance(floor, int) and not isinstance(floor, bool):
        sources["lifecycle_floor"] = "GET /v1/_standin/lifecycle"
        return floor
    sources["lifecycle_floor"] = "upstream constant"
    return UPSTREAM_MIN_AUTO_STOP_S


def _second_org(
    env: Mapping[str, str], profile: Mapping[str, Any], api_url: str, sources: dict[str, str]
) -> SecondOrg | None:
    key = _env(env, "SECOND_API_KEY") or profile.get("second_api_key")
    prefix = _env_raw(env, "SECOND_PREFIX")
    if prefix is None:
        prefix = profile.get("second_path_prefix")
    if not isinstance(key, str) or not key or not isinstance(prefix, str) or not prefix:
        return None
    sources["second_org"] = "env" if _env(env, "SECOND_API_KEY") else "profile"
    return SecondOrg(api_url, prefix, key)


def _max_cpus(profile: Mapping[str, Any]) -> int | None:
    value = profile.get("max_cpus_per_box")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _deadline(env: Mapping[str, str]) -> float:
    raw = _env(env, "PATH_DEADLINE")
    if raw is None:
        return DEFAULT_PATH_DEADLINE
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"BOXLITE_E2E_PATH_DEADLINE={raw!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise ConfigError(f"BOXLITE_E2E_PATH_DEADLINE={raw!r}: expected 0 < seconds <= 300")
    return value


def _positive_int(env: Mapping[str, str], key: str, default: int, sources: dict[str, str]) -> int:
    """BOXLITE_E2E_<key> as an integer >= 1, else `default`; a bad value is an error."""
    raw = _env(env, key)
    if raw is None:
        sources[key.lower()] = "default"
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"BOXLITE_E2E_{key}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"BOXLITE_E2E_{key}={raw!r}: expected a positive integer")
    sources[key.lower()] = "env"
    return value


def _env_raw(env: Mapping[str, str], key: str) -> str | None:
    """Like `_env` but an explicitly empty value counts (PREFIX='' means no prefix)."""
    value = env.get(ENV_PREFIX + key)
    return None if value is None else value.strip()


def _faults(facts: StackFacts) -> list[Fault] | None:
    body = facts.faults.body
    if (
        not facts.faults.ok
        or not isinstance(body, dict)
        or not isinstance(body.get("faults"), list)
    ):
        return None
    faults = []
    for item in body["faults"]:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        faults.append(
            Fault(
                name=str(item["name"]),
                issue=str(item.get("issue") or ""),
                component=str(item.get("component") or body.get("component") or ""),
                probability=float(item.get("probability", 1.0)),
            )
        )
    return faults


def _capabilities(facts: StackFacts, cli: str | None) -> frozenset[str]:
    caps = set()
    body = facts.config.body
    if facts.config.ok and isinstance(body, dict) and isinstance(body.get("capabilities"), dict):
        for key, value in body["capabilities"].items():
            if value is True and key.endswith("_enabled"):
                caps.add(key.removesuffix("_enabled"))
    if cli:
        caps.add("cli")
    return frozenset(caps)


def _versions(facts: StackFacts) -> dict[str, Any]:
    body = facts.health.body
    if facts.health.ok and isinstance(body, dict):
        return dict(body)
    return {}


def _cli(env: Mapping[str, str], sources: dict[str, str]) -> str | None:
    given = _env(env, "CLI")
    if given:
        sources["cli"] = "env"
        resolved = shutil.which(given, path=env.get("PATH")) or (
            given if Path(given).is_file() else None
        )
        if resolved is None:
            raise ConfigError(f"BOXLITE_E2E_CLI={given!r} is not an executable file")
        return resolved
    found = shutil.which("boxlite", path=env.get("PATH"))
    if found:
        sources["cli"] = "PATH"
    return found


def _runner_log(
    env: Mapping[str, str], stack: str, layout: Layout, sources: dict[str, str]
) -> RunnerLog:
    unit = _env(env, "RUNNER_UNIT")
    if _env(env, "RUNNER_LOG"):
        sources["runner_log"] = "env RUNNER_LOG"
        return RunnerLog("file", path=Path(_env(env, "RUNNER_LOG") or ""))
    if _env(env, "RUNNER_JOURNAL"):
        sources["runner_log"] = "env RUNNER_JOURNAL"
        return RunnerLog(
            "journal",
            path=Path(_env(env, "RUNNER_JOURNAL") or ""),
            unit=unit or DEFAULT_RUNNER_UNIT,
        )
    if unit:
        sources["runner_log"] = "env RUNNER_UNIT"
        return RunnerLog("journal", unit=unit)
    # Where bootstrap put the runner's log depends on the service manager it used: journald
    # under systemd, the layout's log file under supervisor. Its record says which.
    services = _recorded_services(layout)
    if services:
        sources["runner_log"] = f"bootstrap record ({services})"
        if services == "systemd":
            return RunnerLog("journal", unit=DEFAULT_RUNNER_UNIT)
        return RunnerLog("file", path=layout.runner_log)
    sources["runner_log"] = f"{stack} default"
    if stack == "standin":
        return RunnerLog("file", path=layout.runner_log)
    return RunnerLog("journal", unit=DEFAULT_RUNNER_UNIT)


def _recorded_services(layout: Layout) -> str | None:
    """The service manager recorded by bootstrap in `stack.json`, if there is a record."""
    try:
        record = json.loads((layout.config_dir / "stack.json").read_text())
    except (OSError, ValueError):
        return None
    services = record.get("services") if isinstance(record, dict) else None
    return services if services in ("systemd", "supervisor") else None
