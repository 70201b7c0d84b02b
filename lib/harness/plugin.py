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

import contextlib
import json
import re
import signal
import time
import uuid
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pytest_asyncio import is_async_test

from lib.harness import reports, runguard
from lib.harness.config import Config, ConfigError, results_dir_of
from lib.harness.config import load as load_config
from lib.harness.logsources import FileSource, JournalSource, LogSource
from lib.harness.netfault import session as netsession
from lib.harness.netfault.faults import SPECS as NET_SPECS
from lib.harness.netfault.faults import profile as net_profile
from lib.harness.netfault.proxy import NetFaultProxy
from lib.harness.path_verification import Outcome, PathResult, PathVerifier
from lib.harness.runguard import RunGuard
from lib.harness.runtime import BoxLedger, remove_boxes
from lib.harness.sdk import axis
from lib.harness.sdk.driver import DriverPool
from lib.names import RUNNER_SERVICE
from standin.faults import SPECS as FAULT_SPECS

SESSION_KEY = pytest.StashKey["E2ESession"]()
PHASES_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
MARKS_KEY = pytest.StashKey[Any]()
PATH_KEY = pytest.StashKey[PathResult]()
BOXES_KEY = pytest.StashKey[list]()
DRIVER_MARKS_KEY = pytest.StashKey[dict]()

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
    "catches(*faults): the stand-in faults (standin/faults.py) this case must catch, or "
    "network faults as 'net:NAME' (lib/harness/netfault); the mutation matrix builds its pins "
    "from these marks",
    "netfault(*faults): network fault words (lib/harness/netfault/faults.py) the `netfault` "
    "fixture's proxy applies to this case (BOXLITE_E2E_NETFAULTS filters them)",
    *axis.MARKERS,
)
NET_PREFIX = "net:"


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
        # SDK drivers (node, go) for the SDK axis: started on first use, one per process.
        self.drivers = DriverPool(
            cfg.sdks, cfg.results_dir / reports.DRIVERS_DIR, worker, lambda: self.ledger.current
        )
        self.started = time.monotonic()
        self._proxy: NetFaultProxy | None = None
        self.guard: RunGuard | None = None

    def client_url(self) -> str:
        """Where runtimes and raw clients go: the API, or the run's network-profile proxy.

        The proxy forwards to the API unchanged except for the profile's faults, so the API
        log (and so the path check) still sees every request."""
        profile = self.config.network_profile
        if not profile:
            return self.config.api_url
        if self._proxy is None:
            self._proxy = NetFaultProxy(self.config.api_url, net_profile(profile)).start()
        return self._proxy.url

    @property
    def network_proxy(self) -> NetFaultProxy | None:
        """The run's network-profile proxy, once a client asked for it (else None)."""
        return self._proxy

    def close_proxy(self) -> None:
        """Stop the network-profile proxy, if one was started."""
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None

    # -- per test
    def begin_test(self, item: pytest.Item) -> None:
        """Mark the hop logs and open the ledger scope of the test about to run."""
        item.stash[MARKS_KEY] = self.verifier.mark() if self.verifier else None
        item.stash[DRIVER_MARKS_KEY] = self.drivers.mark()
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
    worker = _xdist_worker(config)
    try:
        cfg = load_config()
    except ConfigError as exc:
        if worker is None:  # the results say so, instead of showing the last run's
            reports.write_not_started(
                results_dir_of(), exit_status=2, reason=f"cannot start: {exc}"
            )
        pytest.exit(f"boxlite-e2e cannot start: {exc}", returncode=2)
    if worker is not None:
        run_uid = config.workerinput["testrunuid"]  # type: ignore[attr-defined]
    else:
        # Share one run id with xdist workers, so every box name of this run matches.
        run_uid = cfg.run_id or getattr(config.option, "testrunuid", None) or uuid.uuid4().hex
        if hasattr(config.option, "testrunuid"):
            config.option.testrunuid = run_uid
        reports.prepare(cfg.results_dir, run_uid[:8])
        if not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(cfg.results_dir / "junit.xml")
    e2e = E2ESession(cfg, run_uid[:8], worker)
    config.stash[SESSION_KEY] = e2e
    # Liveness lease, start-of-run sweep, SIGTERM as Ctrl-C (lib.harness.runguard).
    e2e.guard = RunGuard(cfg, e2e.run_id, worker)
    if worker is None:
        e2e.guard.start()
    else:
        e2e.guard.join()


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
        f"boxlite-e2e: network {reports.network_text(c.describe())}",
        f"boxlite-e2e: auto_stop floor {c.lifecycle_floor}s"
        + ("" if c.lifecycle_floor == 60 else " (stand-in only; the real API's is 60s)"),
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Spread tests taking `sdk` over the SDK axis (lib.harness.sdk.axis)."""
    axis.parametrize(metafunc)


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
        netsession.marked_words(item)  # a bad netfault word is a usage error, never ignored
        if e2e is None:
            continue
        _apply_known_bugs(item, e2e.config)
        _apply_needs(item, e2e.config)
        axis.apply(item, e2e.config.sdks)


def _check_catches(item: pytest.Item) -> None:
    """A `catches` mark names registered faults only: a typo would pin nothing, silently."""
    for mark in item.iter_markers("catches"):
        if not mark.args or mark.kwargs or not all(isinstance(a, str) for a in mark.args):
            raise pytest.UsageError(f"{item.nodeid}: @catches takes fault names")
        unknown = [f for f in mark.args if f not in FAULT_SPECS and not _network_fault(f)]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: catches({', '.join(map(repr, unknown))}): unknown fault; "
                f"known: {', '.join(sorted(FAULT_SPECS))}, or net:NAME with NAME one of "
                f"{', '.join(sorted(NET_SPECS))}"
            )
        # A network fault applies on its matrix row only through the case's own netfault
        # mark (BOXLITE_E2E_NETFAULTS filters the marks): pinned without it, it would miss.
        marked = {w.partition("=")[0] for w in netsession.marked_words(item)}
        unmarked = [
            f for f in mark.args if _network_fault(f) and f.removeprefix(NET_PREFIX) not in marked
        ]
        if unmarked:
            raise pytest.UsageError(
                f"{item.nodeid}: catches({', '.join(map(repr, unmarked))}) without that fault "
                "in its @netfault mark: the matrix row would never apply it"
            )


def _network_fault(name: str) -> bool:
    return name.startswith(NET_PREFIX) and name.removeprefix(NET_PREFIX) in NET_SPECS


def _apply_known_bugs(item: pytest.Item, cfg: Config) -> None:
    for mark in item.iter_markers("known_bug"):
        issue = _single_str_arg(mark, item)
        if not ISSUE_RE.match(issue):
            raise pytest.UsageError(
                f"{item.nodeid}: known_bug({issue!r}) must name an issue as 'owner/repo#N'"
            )
        faults = [f for f in cfg.faults if f.issue == issue]
        active = cfg.stack == "cloud" or bool(faults)
        # A bug the case's own network fault exposes (an SDK bug, the same wheel on both
        # stacks) is active exactly while that fault is in force, whichever the stack.
        by_network = netsession.known_bug_activity(item, cfg, issue)
        if by_network is not None:
            active, faults = by_network, []
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
    # The driver lines written while this test ran: its own SDK's always, others if any.
    callspec = getattr(item, "callspec", None)
    own = callspec.params.get("sdk") if callspec is not None else None
    drivers = {
        sdk: lines
        for sdk, lines in e2e.drivers.slices(item.stash.get(DRIVER_MARKS_KEY, None)).items()
        if lines or sdk == own
    }
    reports.write_failure_dir(
        e2e.config.results_dir,
        item.nodeid,
        phases,
        boxes=item.stash.get(BOXES_KEY, []),
        slices=slices,
        truncated=truncated,
        driver_logs=drivers,
    )


STACK_BOXES_KEY = pytest.StashKey[dict]()
RUN_END_KEY = pytest.StashKey[dict]()
HOLD_KEY = pytest.StashKey[contextlib.ExitStack]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every worker's teardown: the exact leftover check (lib.harness.runguard); after
    an interrupt it also removes every box of the run, and the run says how it ended."""
    config = session.config
    e2e = config.stash.get(SESSION_KEY, None)
    if e2e is None or _xdist_worker(config) is not None or config.option.collectonly:
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(runguard.received)
    # From here until summary.json is written, SIGINT/SIGTERM are noted, not obeyed: a Ctrl-C
    # landing between the leftover check and the summary write once left summary.json
    # saying "running" for a run that had ended (the API-killed drill, under load).
    hold = contextlib.ExitStack()
    late = hold.enter_context(runguard.signals_deferred())
    config.stash[HOLD_KEY] = hold
    found = e2e.guard.final_check(interrupted)
    config.stash[STACK_BOXES_KEY] = found
    end: dict[str, Any] = {"status": "interrupted" if interrupted else "complete"}
    end["start_sweep"] = e2e.guard.start_sweep
    if interrupted:
        sig = runguard.received[0] if runguard.received else signal.SIGINT
        end["reason"] = f"stopped by {signal.Signals(sig).name}"
        if sig != signal.SIGINT:  # Ctrl-C keeps pytest's 2; other signals say which
            session.exitstatus = 128 + sig
    if found["left"] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    end["exit_status"] = int(session.exitstatus)
    end["signals_deferred"] = late  # filled until the summary is written
    config.stash[RUN_END_KEY] = end


def _release_signals(config: pytest.Config) -> None:
    """End the deferral pytest_sessionfinish began (once; a no-op without one)."""
    hold = config.stash.get(HOLD_KEY, None)
    if hold is not None:
        del config.stash[HOLD_KEY]
        hold.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop this process's network-profile proxy (each xdist worker has its own), then
    release the run's liveness lease (forgotten when nothing of the run is left)."""
    _release_signals(config)  # pytest_terminal_summary did not run (e.g. -p no:terminal)
    e2e = config.stash.get(SESSION_KEY, None)
    if e2e is not None:
        e2e.close_proxy()
    guard = getattr(e2e, "guard", None)
    if guard is None:
        return
    found = config.stash.get(STACK_BOXES_KEY, None) or {}
    guard.finish(nothing_left=bool(found.get("checked")) and not found.get("remaining"))


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
        exit_status=int(config.stash.get(RUN_END_KEY, {}).get("exit_status", exitstatus)),
        duration_s=time.monotonic() - e2e.started,
        session_files=session_files,
        stack_boxes=config.stash.get(STACK_BOXES_KEY, None),
        run_end=config.stash.get(RUN_END_KEY, None),
        sdks={name: a.to_json() for name, a in e2e.config.sdks.items()},
    )
    try:
        path = reports.write_summary(results, summary)
    finally:
        _release_signals(config)
    terminalreporter.write_sep("=", "boxlite-e2e summary")
    for line in reports.render(summary):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"results: {path.parent} (summary.json, junit.xml, failures/)")


def results_dir(config: pytest.Config) -> Path:
    """Where this run's reports go (the resolved config's results dir)."""
    return session_of(config).config.results_dir
