"""The harness's pytest plugin: config at start-up, markers, per-test ownership, reports.

Registered by `cases/conftest.py` (`pytest_plugins = ["lib.harness.plugin"]`), and loadable on its
own (`-p lib.harness.plugin`) so self-tests can drive it with pytester. The fixtures themselves stay
in `cases/conftest.py`; they call into `E2ESession`, which lives here and holds the per-process
state (config, box ledger, path verifier).

What it does, each so that nothing fails or passes silently (history: docs/history.md):

- the config is resolved once in `pytest_configure`; a missing profile or an unreachable API
  ends the run there with one message and exit code 2, not one error per case;
- markers are registered and validated: `known_bug("owner/repo#N")` becomes a strict xfail on
  the cloud stack, and on the stand-in only when the stack reports a fault for that issue
  (otherwise the case must pass: the stand-in without the fault is the "fixed" build). A
  fault that fires with probability < 1 cannot make a strict promise, so that xfail is not
  strict and says why. `needs(capability)` skips with a reason naming what is missing; an
  unknown capability or a malformed issue id is a usage error, never a silent skip;
- async cases run in one session event loop (pytest-asyncio 1.x `loop_scope="session"`),
  the loop the session runtime lives in;
- every test is bracketed by `E2ESession.begin_test`/`finish_test`: cursors before, path
  verification and removal of what is left after, with leaks and removal failures reported;
- results: junit.xml (pytest's own writer, path defaulted), per-failure folders, summary.

PYTEST_DONT_REWRITE: this module has no asserts to rewrite, and cases/conftest.py imports it
before `pytest_plugins` registers it, which would otherwise warn on every run.
"""

from __future__ import annotations

import json
import re
import time
import uuid
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pytest_asyncio import is_async_test

from lib.harness import reports
from lib.harness.config import Config, ConfigError
from lib.harness.config import load as load_config
from lib.harness.logsources import FileSource, JournalSource, LogSource
from lib.harness.path_verification import Outcome, PathResult, PathVerifier
from lib.harness.runtime import BoxLedger, remove_boxes
from lib.names import RUNNER_SERVICE
from standin.faults import SPECS as FAULT_SPECS

SESSION_KEY = pytest.StashKey["E2ESession"]()
PHASES_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
MARKS_KEY = pytest.StashKey[Any]()
PATH_KEY = pytest.StashKey[PathResult]()
BOXES_KEY = pytest.StashKey[list]()

ISSUE_RE = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")
# Capabilities `needs()` understands: the API's /v1/config flags (minus "_enabled"), the
# CLI, and the stack kinds. Anything else is a typo and fails the run.
CAPABILITIES = {
    "cli": "no boxlite CLI: set BOXLITE_E2E_CLI or put `boxlite` on PATH",
    "snapshots": "the API reports snapshots_enabled=false",
    "clone": "the API reports clone_enabled=false",
    "export": "the API reports export_enabled=false",
    "import": "the API reports import_enabled=false",
    "linux_capabilities": "the API reports linux_capabilities_enabled=false",
    "standin": "only meaningful on the stand-in stack",
    "cloud": "only meaningful on the real (cloud) stack",
}
MARKERS = (
    "known_bug(issue): a known, unfixed upstream bug ('owner/repo#N'); strict xfail on the cloud "
    "stack, and on the stand-in only while it injects a fault for that issue",
    "needs(*capabilities): not applicable unless the stack has each capability "
    f"({', '.join(sorted(CAPABILITIES))}); skipped with the reason in the summary",
    "smoke: safe against a shared/paying stack: one box at a time, no quota or error storms",
    "image(ref): run this case with image `ref` (or an alias: tools, minimal) instead of the "
    "stack default",
    "catches(*faults): the stand-in faults (standin/faults.py) this case must catch; the "
    "mutation matrix builds its pins from these marks",
)


class BoxLeakWarning(pytest.PytestWarning):
    """A case left a box behind; the harness removed it."""


def _xdist_worker(config: pytest.Config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def _informational(config: pytest.Config) -> bool:
    opt = config.option
    return any(
        getattr(opt, name, False)
        for name in (
            "help",
            "version",
            "markers",
            "showfixtures",
            "show_fixtures_per_test",
            "collectonly",
        )
    )


def build_sources(cfg: Config) -> dict[str, LogSource]:
    """One log source per hop, as the config says."""
    rl = cfg.runner_log
    if rl.kind == "file":
        runner: LogSource = FileSource(rl.path or "", env_var="BOXLITE_E2E_RUNNER_LOG")
    elif rl.path is not None and rl.path.is_file():
        runner = JournalSource(rl.unit or RUNNER_SERVICE, files=[rl.path])
    else:
        runner = JournalSource(rl.unit or RUNNER_SERVICE, path=rl.path)
    return {"runner": runner, "api": FileSource(cfg.api_log, env_var="BOXLITE_E2E_API_LOG")}


class E2ESession:
    """Per-process harness state: config, box ledger, path verifier."""

    def __init__(self, cfg: Config, run_id: str, worker: str | None):
        self.config = cfg
        self.run_id = run_id
        self.worker = worker
        self.ledger = BoxLedger(run_id, worker)
        self.verifier = (
            None
            if cfg.skip_path_verify
            else PathVerifier(build_sources(cfg), deadline=cfg.path_deadline)
        )
        self.started = time.monotonic()

    # -- per test
    def begin_test(self, item: pytest.Item) -> None:
        """Mark the hop logs and open the ledger scope of the test about to run."""
        item.stash[MARKS_KEY] = self.verifier.mark() if self.verifier else None
        self.ledger.begin(item.nodeid)

    async def finish_test(self, item: pytest.Item, rt: Any) -> None:
        """Verify the path of the test's boxes, remove what is left, report problems."""
        records = self.ledger.end()
        item.stash[BOXES_KEY] = [r.to_json() for r in records]
        if records:
            item.user_properties.append(
                (reports.PROP_BOXES, json.dumps([r.to_json() for r in records]))
            )
        problems: list[str] = []
        if records and self.verifier is not None:
            result = self.verifier.verify(
                item.stash[MARKS_KEY],
                [r.box_id for r in records],
                {r.box_id: r.name for r in records if r.name},
            )
            item.stash[PATH_KEY] = result
            item.user_properties.append(
                (
                    reports.PROP_PATH,
                    json.dumps({"outcome": result.outcome.value, "message": result.message()}),
                )
            )
            if result.outcome is not Outcome.OK:
                problems.append(result.message())
        cleanup = await remove_boxes(rt, [r for r in records if not r.removed])
        leaks = [r for r in cleanup.removed if r.owner != "fixture"]
        if leaks:
            item.user_properties.append(
                (reports.PROP_LEAKED, json.dumps([r.to_json() for r in leaks]))
            )
            warnings.warn(
                BoxLeakWarning(
                    f"{item.nodeid} left {len(leaks)} box(es) behind, removed by the harness: "
                    + ", ".join(f"{r.box_id} ({r.name})" for r in leaks)
                ),
                stacklevel=1,
            )
        if cleanup.failed:
            failed = [{**f.record.to_json(), "error": f.error} for f in cleanup.failed]
            item.user_properties.append((reports.PROP_REMOVAL_FAILED, json.dumps(failed)))
            problems.append(
                "could not remove box(es) this test created (they may be stranded): "
                + "; ".join(f"{f['box_id']} ({f['name']}): {f['error']}" for f in failed)
            )
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)

    # -- per session
    async def finish_session(self, rt: Any) -> None:
        """Remove boxes made outside any test (module/session fixtures); report the rest."""
        # Boxes whose removal already failed in a test's teardown are retried (the failure
        # may have been transient) but not reported twice.
        outstanding = self.ledger.outstanding()
        reported = {r.box_id for r in outstanding if r.removal_failed}
        cleanup = await remove_boxes(rt, outstanding)
        leaked = [
            r.to_json()
            for r in cleanup.removed
            if r.owner != "fixture" and r.box_id not in reported
        ]
        failed = [
            {**f.record.to_json(), "error": f.error}
            for f in cleanup.failed
            if f.record.box_id not in reported
        ]
        if leaked or failed:
            name = f"session-{self.worker or 'main'}.json"
            path = self.config.results_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"leaked": leaked, "removal_failed": failed}))
        if failed:
            pytest.fail(
                "could not remove session box(es): "
                + "; ".join(f"{f['box_id']}: {f['error']}" for f in failed),
                pytrace=False,
            )


def session_of(config: pytest.Config) -> E2ESession:
    """This process's E2ESession; UsageError when the config was never resolved (an informational
    run)."""
    try:
        return config.stash[SESSION_KEY]
    except KeyError:
        raise pytest.UsageError(
            "boxlite-e2e config was not resolved (informational run?)"
        ) from None


# --------------------------------------------------------------------------- hooks


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, resolve the config (exit 2 when it cannot be), and share one run id
    with every xdist worker."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if _informational(config):
        return
    try:
        cfg = load_config()
    except ConfigError as exc:
        pytest.exit(f"boxlite-e2e cannot start: {exc}", returncode=2)
    worker = _xdist_worker(config)
    if worker is not None:
        run_uid = config.workerinput["testrunuid"]  # type: ignore[attr-defined]
    else:
        # Share one run id with xdist workers, so every box name of this run matches.
        run_uid = getattr(config.option, "testrunuid", None) or uuid.uuid4().hex
        if hasattr(config.option, "testrunuid"):
            config.option.testrunuid = run_uid
        reports.prepare(cfg.results_dir)
        if not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(cfg.results_dir / "junit.xml")
    config.stash[SESSION_KEY] = E2ESession(cfg, run_uid[:8], worker)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Header lines: stack, API, prefix, SDK version, run id, faults, path check, image."""
    e2e = config.stash.get(SESSION_KEY, None)
    if e2e is None:
        return []
    c = e2e.config
    faults = ", ".join(f"{f.name}({f.issue})" for f in c.faults) or "none"
    path = "OFF (BOXLITE_E2E_SKIP_PATH_VERIFY)" if c.skip_path_verify else "runner + api"
    return [
        f"boxlite-e2e: stack {c.stack}, api {c.api_url}, prefix {c.prefix!r}, "
        f"sdk boxlite {_sdk_version()}, run {e2e.run_id}",
        f"boxlite-e2e: faults {faults}; path verification {path}; image {c.image}",
    ]


def _sdk_version() -> str:
    try:
        return metadata.version("boxlite")
    except metadata.PackageNotFoundError:
        return "unknown"


def _single_str_arg(mark: pytest.Mark, item: pytest.Item) -> str:
    if len(mark.args) != 1 or mark.kwargs or not isinstance(mark.args[0], str):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.{mark.name} takes exactly one string argument"
        )
    return mark.args[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put async cases on the session loop, check `image` and `catches` marks, apply known_bug and
    needs marks."""
    e2e = config.stash.get(SESSION_KEY, None)
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item):
            item.add_marker(session_loop, append=False)
        for mark in item.iter_markers("image"):
            _single_str_arg(mark, item)
        _check_catches(item)
        if e2e is None:
            continue
        _apply_known_bugs(item, e2e.config)
        _apply_needs(item, e2e.config)


def _check_catches(item: pytest.Item) -> None:
    """A `catches` mark names registered faults only: a typo would pin nothing, silently."""
    for mark in item.iter_markers("catches"):
        if not mark.args or mark.kwargs or not all(isinstance(a, str) for a in mark.args):
            raise pytest.UsageError(f"{item.nodeid}: @catches takes fault names")
        unknown = [f for f in mark.args if f not in FAULT_SPECS]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: catches({', '.join(map(repr, unknown))}): unknown fault; "
                f"known: {', '.join(sorted(FAULT_SPECS))}"
            )


def _apply_known_bugs(item: pytest.Item, cfg: Config) -> None:
    for mark in item.iter_markers("known_bug"):
        issue = _single_str_arg(mark, item)
        if not ISSUE_RE.match(issue):
            raise pytest.UsageError(
                f"{item.nodeid}: known_bug({issue!r}) must name an issue as 'owner/repo#N'"
            )
        faults = [f for f in cfg.faults if f.issue == issue]
        active = cfg.stack == "cloud" or bool(faults)
        item.user_properties.append(
            (reports.PROP_KNOWN_BUG, json.dumps({"issue": issue, "active": active}))
        )
        if not active:
            continue  # the stand-in without this fault is the fixed build: the case must pass
        fix_hint = f"an XPASS means it is fixed here: remove @known_bug({issue!r})"
        racy = [f for f in faults if f.probability < 1.0]
        if faults and len(racy) == len(faults):
            p = ", ".join(f"{f.name}={f.probability:g}" for f in racy)
            item.add_marker(
                pytest.mark.xfail(
                    strict=False,
                    reason=f"known bug {issue} (fault {p} fires at random, so not strict)",
                )
            )
        else:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"known bug {issue}; {fix_hint}"))


def _apply_needs(item: pytest.Item, cfg: Config) -> None:
    for mark in item.iter_markers("needs"):
        if not mark.args or mark.kwargs or not all(isinstance(a, str) for a in mark.args):
            raise pytest.UsageError(f"{item.nodeid}: @needs takes capability names")
        for cap in mark.args:
            if cap not in CAPABILITIES:
                raise pytest.UsageError(
                    f"{item.nodeid}: needs({cap!r}): unknown capability; known: "
                    + ", ".join(sorted(CAPABILITIES))
                )
            have = cfg.stack == cap if cap in ("standin", "cloud") else cap in cfg.capabilities
            if not have:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"not applicable on stack {cfg.stack}: needs {cap} "
                        f"({CAPABILITIES[cap]})"
                    )
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report; after teardown, write the failure folder when any phase failed."""
    report = yield
    phases = item.stash.setdefault(PHASES_KEY, {})
    phases[report.when] = report
    e2e = item.config.stash.get(SESSION_KEY, None)
    if e2e is not None and report.when == "teardown" and any(r.failed for r in phases.values()):
        _write_failure(e2e, item, phases)
    return report


def _write_failure(e2e: E2ESession, item: pytest.Item, phases: dict) -> None:
    result = item.stash.get(PATH_KEY, None)
    slices = {h.hop: h.lines for h in result.hops} if result else {}
    truncated = {h.hop: h.truncated for h in result.hops} if result else {}
    if result is None and e2e.verifier is not None:
        slices = {hop: [] for hop in e2e.verifier.sources}
    reports.write_failure_dir(
        e2e.config.results_dir,
        item.nodeid,
        phases,
        boxes=item.stash.get(BOXES_KEY, []),
        slices=slices,
        truncated=truncated,
    )


STACK_BOXES_KEY = pytest.StashKey[dict]()


def stack_leftovers(e2e: E2ESession, timeout: float = 30.0) -> dict[str, Any]:
    """Ask the API which boxes of this run are still listed (names `e2e-<run id>...`).

    The ledger can only remove what it saw; this is the independent check that a full run
    left zero boxes on the stack (raw REST, CLI and subprocess boxes included). A stack that
    cannot be asked is reported as "not checked", never as zero.
    """
    import httpx

    from lib.harness.api import v1_path

    cfg = e2e.config
    mine = f"e2e-{e2e.run_id}"
    try:
        resp = httpx.get(
            cfg.api_url.rstrip("/") + v1_path("/boxes", cfg.prefix),
            headers={"Authorization": f"Bearer {cfg.api_key}"},
            timeout=timeout,
        )
        boxes = resp.json()["boxes"] if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return {"checked": False, "error": f"{type(exc).__name__}: {exc}", "left": []}
    if not isinstance(boxes, list):
        return {"checked": False, "error": f"HTTP {resp.status_code} listing boxes", "left": []}
    left = [
        {"box_id": b.get("box_id"), "name": b.get("name"), "status": b.get("status")}
        for b in boxes
        if isinstance(b, dict) and str(b.get("name") or "").startswith(mine)
    ]
    return {"checked": True, "listed": len(boxes), "left": left, "error": None}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every worker's teardown: no box of this run may still be on the stack."""
    config = session.config
    e2e = config.stash.get(SESSION_KEY, None)
    if e2e is None or _xdist_worker(config) is not None or config.option.collectonly:
        return
    found = stack_leftovers(e2e)
    config.stash[STACK_BOXES_KEY] = found
    if found["left"] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config):
    """On the controller only: write summary.json and print the boxlite-e2e summary."""
    e2e = config.stash.get(SESSION_KEY, None)
    if e2e is None or _xdist_worker(config) is not None:
        return
    results = e2e.config.results_dir
    session_files = sorted(results.glob(reports.SESSION_FILES))
    summary = reports.build_summary(
        stats=terminalreporter.stats,
        config=e2e.config.describe(),
        sdk_version=_sdk_version(),
        run_id=e2e.run_id,
        exit_status=int(exitstatus),
        duration_s=time.monotonic() - e2e.started,
        session_files=session_files,
        stack_boxes=config.stash.get(STACK_BOXES_KEY, None),
    )
    path = reports.write_summary(results, summary)
    terminalreporter.write_sep("=", "boxlite-e2e summary")
    for line in reports.render(summary):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"results: {path.parent} (summary.json, junit.xml, failures/)")


def results_dir(config: pytest.Config) -> Path:
    """Where this run's reports go (the resolved config's results dir)."""
    return session_of(config).config.results_dir
