"""two_sided: prove a regression case fails on MAIN_REF and passes on PR_REF, honestly.

    two_sided.sh PR_REF=fix-563 [MAIN_REF=main] REPO=/path/to/boxlite \\
        CASES='cases/test_p0_6_exec_stdout_race.py' [REPEAT=5] [STACK=standin|cloud]

Every setting is a KEY=VALUE word or, failing that, an environment variable of the same
name (STACK also as BOXLITE_E2E_STACK). The procedure, and why each step is there:

1. Both refs are resolved in REPO first: a missing ref is exit 125 before anything is
   touched. The user's checkout is recorded (HEAD, branch, status) and checked unchanged at
   the end; each ref gets its own detached worktree (`lib.proof.worktrees`), never a checkout.
2. The stack driver (`lib.proof.stack_driver`) snapshots what runs now, builds each side's
   components from its worktree, and swaps them in with a health check. A build or
   bring-up failure is exit 125 (git bisect's "skip").
3. The selected cases run from *this* harness checkout, so the test code is the same on
   both sides, interleaved main, pr, main, pr ... for REPEAT rounds so host drift hits both
   sides alike. Each run writes its own JUnit XML, read raw by `lib.proof.verdict`.
4. `lib.proof.verdict.decide` gives the verdict and exit code; the human table goes to stdout
   and everything to `results/two_sided.json` (rewritten after every run, so an
   interrupted run still leaves its evidence).
5. On any exit -- verdict, error, SIGINT, SIGTERM, SIGHUP -- the original build is
   restored and the worktrees removed, with further signals deferred until that is done,
   and the exit code is the verdict's (the cleanup never replaces it). An
   interrupted run exits 128+signal; a failed restore exits 128 (the host needs care; a
   bisection must stop), as does a usage error.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lib import processes
from lib.errors import HarnessError
from lib.harness.config import ConfigError, check_knobs
from lib.harness.config import load as load_config
from lib.harness.stackboxes import StackBoxes, StackUnavailable, of_run
from lib.layout import Layout
from lib.names import REPO_ROOT
from lib.proof import verdict as V
from lib.proof import worktrees as W
from lib.proof.stack_driver import (
    BringUpError,
    BuildError,
    DriverError,
    SideBuild,
    Snapshot,
    StackDriver,
    load_driver,
    make_driver,
)
from standin import atomicfile

KEYS = {
    "PR_REF": "the fix under test (required)",
    "MAIN_REF": "the buggy baseline (default: main)",
    "REPO": "git checkout holding both refs: BoxLite, or a stand-in fixture repo (required)",
    "CASES": "pytest selection, run from this harness checkout (required), e.g. cases/test_x.py",
    "REPEAT": "runs per side, interleaved main,pr,main,pr... (default: 1)",
    "STACK": "standin or cloud (default: $BOXLITE_E2E_STACK, else standin)",
    "DRIVER": "module:factory or file.py:factory instead of STACK (self-tests, extensions)",
    "RESULTS_DIR": "two_sided.json and per-run JUnit/logs/reports (default: results/)",
    "WORK_DIR": "parent of the temporary worktrees (default: $TMPDIR)",
    "CACHE_DIR": "build cache kept between runs (default: <state dir>/two-sided-cache)",
    "PYTEST_ARGS": "extra pytest arguments for every run, shell-quoted",
    "RUN_TIMEOUT": "seconds one pytest run may take before it is void (default: 1800)",
}
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class UsageError(HarnessError):
    """Bad arguments, a busy stack or an unrestored earlier run: shown with the usage, exit 128."""

    pass


class Interrupted(BaseException):
    """A signal arrived. BaseException, so no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def usage() -> str:
    """The help text: invocation, exit codes and every KEY=VALUE setting."""
    lines = [
        "usage: two_sided.sh PR_REF=ref REPO=path CASES='selection' [KEY=VALUE ...]",
        "       two_sided.sh --recover   put back the build a killed (SIGKILL) run left swapped in",
        "",
        "Exit: 0 fails on main and passes on PR; 1 still fails on PR; 2 not detected on main;",
        "      125 a side could not be built or brought up (git bisect: skip);",
        "      128 usage or harness error, 128+N interrupted by signal N.",
        "",
        "Settings (KEY=VALUE words, else environment variables of the same name):",
    ]
    lines += [f"  {key:<12} {text}" for key, text in KEYS.items()]
    return "\n".join(lines)


@dataclass
class Options:
    """One comparison's settings, from KEY=VALUE words over the environment."""

    pr_ref: str
    main_ref: str
    repo: Path
    cases: list[str]
    repeat: int
    stack: str
    driver: str
    results_dir: Path
    work_dir: Path | None
    cache_dir: Path
    pytest_args: list[str]
    run_timeout: float
    layout: Layout = field(default_factory=Layout.from_env)


def parse_args(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Options:
    """KEY=VALUE words override environment variables of the same name."""
    words: dict[str, str] = {}
    for word in argv:
        key, sep, value = word.partition("=")
        if not sep:
            raise UsageError(f"{word!r} is not KEY=VALUE")
        if key not in KEYS:
            raise UsageError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
        words[key] = value

    def get(key: str, default: str = "") -> str:
        return (words.get(key) if key in words else env.get(key, default)) or default

    missing = [k for k in ("PR_REF", "REPO", "CASES") if not get(k)]
    if missing:
        raise UsageError(f"{', '.join(missing)} required")
    try:
        repeat = int(get("REPEAT", "1"))
        run_timeout = float(get("RUN_TIMEOUT", "1800"))
    except ValueError as exc:
        raise UsageError(f"REPEAT / RUN_TIMEOUT must be numbers: {exc}") from None
    if repeat < 1:
        raise UsageError(f"REPEAT must be >= 1, got {repeat}")
    layout = Layout.from_env(env)
    stack = get("STACK") or env.get("BOXLITE_E2E_STACK", "") or "standin"

    def path(value: str) -> Path:
        return (cwd / value).resolve() if value else Path()

    return Options(
        pr_ref=get("PR_REF"),
        main_ref=get("MAIN_REF", "main"),
        repo=path(get("REPO")),
        cases=shlex.split(get("CASES")),
        repeat=repeat,
        stack=stack,
        driver=get("DRIVER"),
        results_dir=path(get("RESULTS_DIR") or env.get("BOXLITE_E2E_RESULTS_DIR", ""))
        if get("RESULTS_DIR") or env.get("BOXLITE_E2E_RESULTS_DIR")
        else REPO_ROOT / "results",
        work_dir=path(get("WORK_DIR")) if get("WORK_DIR") else None,
        cache_dir=path(get("CACHE_DIR"))
        if get("CACHE_DIR")
        else layout.state_dir / "two-sided-cache",
        pytest_args=shlex.split(get("PYTEST_ARGS")),
        run_timeout=run_timeout,
        layout=layout,
    )


def validate(opts: Options, env: Mapping[str, str]) -> None:
    """Refuse, before anything is built, a setting the runs would only refuse minutes later:
    the harness's own BOXLITE_E2E_* knobs (the checks lib.harness.config applies) and a CASES
    path that does not exist in this checkout."""
    problems = check_knobs(env)
    for case in opts.cases:
        path = case.split("::", 1)[0]
        if not path.startswith("-") and not (REPO_ROOT / path).exists():
            problems.append(f"CASES: {path} does not exist in {REPO_ROOT}")
    if problems:
        raise UsageError("bad setting(s), nothing was built:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- signals


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """While inside: SIGINT/SIGTERM/SIGHUP raise Interrupted in the main thread."""

    def handler(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in INTERRUPT_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_deferred(log) -> Iterator[list[int]]:
    """While inside: signals are noted, not obeyed, so a second Ctrl-C cannot abort the
    restore half-way. SIGKILL cannot be deferred; see the README for that case."""
    seen: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        seen.append(signum)
        log(f"{signal.Signals(signum).name} received: still restoring the original build")

    old = {s: signal.signal(s, handler) for s in INTERRUPT_SIGNALS}
    try:
        yield seen
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_cause(results: Path, log: Path) -> str:
    """Why a run did not run: the reason its summary gives, else the telling log line."""
    try:
        doc = json.loads((results / "summary.json").read_text())
        if doc.get("reason"):
            return str(doc["reason"])
    except (OSError, ValueError, AttributeError):
        pass
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for marker in ("cannot start", "error:", "UsageError", "ERROR", "Error"):
        for line in lines:
            if marker in line and not line.startswith("$ "):
                return line[:300]
    return (lines[-1] if lines else "empty log")[:300]


def _kill_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the run's process group, SIGKILL after a grace period, and reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- the run


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, doc: dict) -> None:
    atomicfile.write_text(path, json.dumps(doc, indent=2, default=str) + "\n")


def inflight_path(layout: Layout) -> Path:
    """Where a run records the original build until it is restored (see `--recover`)."""
    return layout.state_dir / "two-sided-inflight.json"


class TwoSided:
    """One two-sided comparison: build both refs, run the cases interleaved, restore the stack,
    write the report."""

    def __init__(self, opts: Options, driver: StackDriver, out=print) -> None:
        self.opts = opts
        self.driver = driver
        self.inflight = inflight_path(opts.layout)
        self.inflight_doc: dict | None = None
        self.out = out
        self.runs_dir = opts.results_dir / "two_sided"
        self.json_path = opts.results_dir / "two_sided.json"
        self.runs: list[V.RunResult] = []
        self.report: dict = {
            "schema": "boxlite-e2e/two-sided/1",
            "stack": driver.name,
            "repo": str(opts.repo),
            "cases": opts.cases,
            "pytest_args": opts.pytest_args,
            "repeat": opts.repeat,
            "started_at": _now(),
            "order": [f"{r}:{s}" for r, s in V.interleaved_order(opts.repeat)],
            "sides": {
                "main": {"ref": opts.main_ref},
                "pr": {"ref": opts.pr_ref},
            },
            "original": None,
            "runs": [],
            "timings": {"build_s": {}, "activate_s": []},
            "verdict": None,
            "exit_code": None,
            "notes": [],
            "cleanup": {},
        }

    def log(self, message: str) -> None:
        """Print a progress line, flushed."""
        self.out(f"[two-sided] {message}", flush=True)

    def save(self) -> None:
        """Rewrite two_sided.json with the side summaries and runs so far."""
        for side in V.SIDES:
            self.report["sides"][side].update(V.summarize(self.runs, side).to_json())
        self.report["runs"] = [r.to_json() for r in self.runs]
        _write_json(self.json_path, self.report)

    # one pytest run ------------------------------------------------------------------

    def run_cases(self, build: SideBuild, round_: int) -> V.RunResult:
        """One pytest run of the cases against the active side, with its own JUnit, log and
        results dir."""
        stem = f"r{round_:03d}-{build.side}"
        junit, log = self.runs_dir / f"{stem}.xml", self.runs_dir / f"{stem}.log"
        junit.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "pytest", *self.opts.cases, f"--junitxml={junit}"]
        argv += ["-p", "no:cacheprovider", *self.opts.pytest_args]
        # The run's id is ours to choose, so if we must kill the run we can still remove its
        # boxes (named e2e-<run id>-...) before restoring the build.
        run_id = secrets.token_hex(4)
        env = {
            **os.environ,
            **build.env,
            "BOXLITE_E2E_RUN_ID": run_id,
            "BOXLITE_E2E_TWO_SIDED_SIDE": build.side,
            "BOXLITE_E2E_TWO_SIDED_ROUND": str(round_),
            "BOXLITE_E2E_TWO_SIDED_REF": build.ref,
            "BOXLITE_E2E_TWO_SIDED_SHA": build.sha,
            # The cases' own report (summary, failure folders with log slices) per run, so
            # the next run does not overwrite the evidence of this one.
            "BOXLITE_E2E_RESULTS_DIR": str(self.runs_dir / stem),
        }
        start = time.monotonic()
        note = ""
        with open(log, "w") as fh:
            fh.write(f"$ {shlex.join(argv)}\n")
            fh.flush()
            # Own session: a terminal Ctrl-C reaches only us; we stop the run ourselves.
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self.inflight_doc is not None:
                self.inflight_doc["run_pgid"] = proc.pid  # own session: pgid == pid
                _write_json(self.inflight, self.inflight_doc)
            try:
                code: int | None = proc.wait(timeout=self.opts.run_timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                self.remove_run_boxes(run_id, env)
                code, note = None, f"timed out after {self.opts.run_timeout:g}s"
            except BaseException:
                # Interrupted: stop the run (SIGTERM: it removes its own boxes), then make
                # sure none of its boxes outlives it, before the build is restored.
                with signals_deferred(self.log):
                    _kill_group(proc)
                    self.remove_run_boxes(run_id, env)
                raise
        if code not in V.PYTEST_RAN:
            self.remove_run_boxes(run_id, env)
        text = junit.read_text() if junit.is_file() else None
        result = V.run_from_junit(
            round_, build.side, code, text, round(time.monotonic() - start, 3), str(junit), str(log)
        )
        if not note and not result.valid and code not in V.PYTEST_RAN:
            note = f"pytest exited {code}: {run_cause(self.runs_dir / stem, log)}"
        if note:
            result = V.RunResult(**{**result.__dict__, "note": note})
        return result

    def remove_run_boxes(self, run_id: str, env: Mapping[str, str]) -> None:
        """Remove every box named for run `run_id` (API only); note what could not be."""
        try:
            cfg = load_config(env)
            boxes = StackBoxes.of(cfg)
            mine = of_run(boxes.list(), run_id)
        except (ConfigError, StackUnavailable) as exc:
            self.report["notes"].append(f"run {run_id}: boxes not checked ({exc})")
            return
        failed = [b for b in mine if boxes.remove(str(b.get("box_id"))) is not None]
        if mine:
            self.log(f"removed {len(mine) - len(failed)} box(es) the stopped run {run_id} left")
        if failed:
            self.report["notes"].append(f"run {run_id}: could not remove {failed}")

    def describe_run(self, r: V.RunResult, build: SideBuild) -> str:
        """One progress line for a run: outcome, first failing cases or why it is invalid,
        duration, log."""
        what = r.outcome
        if r.outcome == "fail" and r.counts:
            ids = r.counts.failing_ids
            what += f" ({', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})"
        elif r.outcome == "invalid":
            what += f" ({r.invalid_reason()})"
        return (
            f"round {r.round}/{self.opts.repeat} {r.side:<4} {build.ref} @ {build.sha[:8]}: "
            f"{what} in {r.duration_s:.1f}s; log {r.log}"
        )

    # the procedure -------------------------------------------------------------------

    def execute(self) -> V.Verdict:
        """Resolve refs, snapshot the stack, build both sides, run the interleaved rounds; the
        verdict."""
        opts = self.opts
        repo = W.check_repo(opts.repo)
        shas = {"main": W.resolve(repo, opts.main_ref), "pr": W.resolve(repo, opts.pr_ref)}
        for side in V.SIDES:
            self.report["sides"][side]["sha"] = shas[side]
        for stale in W.reap_stale(repo):
            self.log(f"removed a worktree left by a killed run: {stale}")
        self.driver.preflight()

        self.trees = W.Worktrees(repo, opts.work_dir)
        self.snapshot: Snapshot | None = self.driver.snapshot()
        self.report["original"] = self.snapshot.info
        # Survives a SIGKILL (which no handler sees): `two_sided.sh --recover` restores from it.
        self.inflight_doc = {
            "pid": os.getpid(),
            "stack": self.opts.stack,
            "driver": self.opts.driver,
            "repo": str(repo),
            "snapshot": {"info": self.snapshot.info, "data": self.snapshot.data},
            "run_pgid": None,
        }
        _write_json(self.inflight, self.inflight_doc)
        self.log(f"original {self.driver.name} build recorded: {self.snapshot.info}")

        builds: dict[str, SideBuild] = {}
        for side, ref in (("main", opts.main_ref), ("pr", opts.pr_ref)):
            tree = self.trees.add(side, shas[side])
            start = time.monotonic()
            self.log(f"building {side}: {ref} @ {shas[side][:12]}")
            builds[side] = self.driver.build(
                side, ref, shas[side], tree, self.trees.base / f"{side}-out"
            )
            self.report["timings"]["build_s"][side] = round(time.monotonic() - start, 3)
            self.report["sides"][side]["build"] = builds[side].info
            self.save()

        for round_, side in V.interleaved_order(opts.repeat):
            start = time.monotonic()
            self.driver.activate(builds[side])
            self.report["timings"]["activate_s"].append(round(time.monotonic() - start, 3))
            result = self.run_cases(builds[side], round_)
            self.runs.append(result)
            self.log(self.describe_run(result, builds[side]))
            self.save()
            if not result.valid:
                break  # the comparison is void (125) whatever follows; stop spending time
        return V.decide(self.runs, opts.repeat)

    def cleanup(self) -> tuple[list[str], bool]:
        """Restore the original build, remove worktrees; (problems, restore_failed)."""
        problems: list[str] = []
        restore_failed = False
        snapshot = getattr(self, "snapshot", None)
        if snapshot is not None:
            self.log("restoring the original build")
            try:
                self.driver.restore(snapshot)
                self.report["cleanup"]["restored"] = True
                self.inflight.unlink(missing_ok=True)
            except (DriverError, OSError) as exc:
                restore_failed = True
                self.report["cleanup"]["restored"] = False
                problems.append(f"restore failed: {exc}")
        trees = getattr(self, "trees", None)
        if trees is not None:
            left = trees.remove_all()
            self.report["cleanup"]["worktrees_removed"] = not left
            problems += left
        return problems, restore_failed

    def run(self) -> int:
        """Execute, then always clean up (signals deferred) and report; the exit code, 128 when
        the host was not restored."""
        repo_before = None
        with contextlib.suppress(W.RefError, W.WorktreeError):
            repo_before = W.RepoState.of(W.check_repo(self.opts.repo))
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for old in self.runs_dir.glob("r*-*"):
            # a previous comparison's runs must not be mistaken for this one's
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        code: int
        verdict: V.Verdict | None = None
        interrupted: Interrupted | None = None
        t0 = time.monotonic()
        try:
            with signals_raise():
                try:
                    verdict = self.execute()
                except (W.RefError, BuildError, BringUpError) as exc:
                    verdict = V.cannot_test(str(exc))
                except W.WorktreeError as exc:
                    verdict = V.cannot_test(f"worktree: {exc}")
        except Interrupted as exc:
            interrupted = exc
        except Exception:  # a harness bug: still restore, then say so
            self.report["notes"].append("harness error:\n" + traceback.format_exc())
            self.log(traceback.format_exc())
        finally:
            with signals_deferred(self.log) as late:
                problems, restore_failed = self.cleanup()
                if repo_before is not None and self.opts.repo.is_dir():
                    after = W.RepoState.of(W.check_repo(self.opts.repo))
                    unchanged = after == repo_before
                    self.report["cleanup"]["checkout_unchanged"] = unchanged
                    if not unchanged:
                        problems.append(
                            f"the checkout at {self.opts.repo} changed: {repo_before} -> {after}"
                        )
                if late:
                    self.report["notes"].append(f"signals during cleanup: {late}")

        if interrupted is not None:
            code = 128 + interrupted.signum
            label, summary = "INTERRUPTED", f"stopped by {interrupted}; no verdict"
        elif verdict is not None:
            code, label, summary = verdict.exit_code, verdict.label, verdict.summary
        else:
            code, label, summary = V.EXIT_HARNESS_ERROR, "HARNESS ERROR", "see notes"
        if problems:
            self.report["cleanup"]["problems"] = problems
            for p in problems:
                self.log(f"CLEANUP PROBLEM: {p}")
            if restore_failed and code < 128:
                # The verdict stands in the report, but the host is not as we found it: a
                # bisection must stop here instead of testing the next commit on it.
                code = V.EXIT_HARNESS_ERROR
        self.report["verdict"] = (
            verdict.to_json()
            if verdict is not None and interrupted is None
            else {"exit_code": code, "label": label, "summary": summary, "details": []}
        )
        self.report["exit_code"] = code
        self.report["finished_at"] = _now()
        self.report["wall_s"] = round(time.monotonic() - t0, 3)
        self.save()
        self.out(V.render_table(self.report), flush=True)
        self.out(f"report: {self.json_path}", flush=True)
        if code != self.report["verdict"]["exit_code"]:
            self.out(
                f"exit {code} (not {self.report['verdict']['exit_code']}): see CLEANUP PROBLEM",
                flush=True,
            )
        return code


# --------------------------------------------------------------------------- entry


@contextlib.contextmanager
def stack_lock(layout: Layout) -> Iterator[None]:
    """One two-sided run per stack: a second one would swap builds under the first."""
    path = layout.state_dir / "two-sided.lock"
    try:
        with processes.exclusive_lock(path, note_pid=True):
            yield
    except processes.LockBusy:
        raise UsageError(f"another two-sided run holds {path}") from None


def build_driver(
    stack: str, driver: str, layout: Layout, env: Mapping[str, str], cache_dir: Path
) -> StackDriver:
    """`DRIVER=module:factory` when given, else the built-in driver for `stack`."""
    if driver:
        return load_driver(driver)
    return make_driver(stack, harness_root=REPO_ROOT, layout=layout, env=env, cache_dir=cache_dir)


def recover(env: Mapping[str, str]) -> int:
    """Put back the original build a killed run (SIGKILL, power loss) left swapped out."""
    layout = Layout.from_env(env)
    path = inflight_path(layout)
    with stack_lock(layout):
        if not path.is_file():
            print(f"two_sided --recover: nothing to recover ({path} does not exist)")
            return 0
        doc = json.loads(path.read_text())
        print(f"two_sided --recover: run {doc['pid']} left {doc['snapshot']['info']} swapped out")
        pgid = doc.get("run_pgid")
        if pgid:
            # Its last pytest run may still be going (its own session outlives the parent).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        driver = build_driver(
            doc["stack"], doc["driver"], layout, env, layout.state_dir / "two-sided-cache"
        )
        try:
            driver.restore(Snapshot(info=doc["snapshot"]["info"], data=doc["snapshot"]["data"]))
        except DriverError as exc:
            print(f"two_sided --recover: restore failed: {exc}", file=sys.stderr)
            return V.EXIT_HARNESS_ERROR
        with contextlib.suppress(W.RefError, W.WorktreeError):
            for tree in W.reap_stale(W.check_repo(Path(doc["repo"]))):
                print(f"two_sided --recover: removed worktree {tree}")
        path.unlink()
        print("two_sided --recover: original build restored")
        return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """CLI of two_sided.sh: help, `--recover`, or one comparison under the stack lock; the
    two-sided exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if argv and argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    try:
        if argv == ["--recover"]:
            return recover(env)
        # two_sided.sh runs us from the harness root (so `-m lib...` cannot pick up a `lib`
        # package from the caller's directory) and passes the caller's cwd for paths.
        opts = parse_args(argv, env, Path(env.get("BOXLITE_E2E_CALLER_CWD") or Path.cwd()))
        validate(opts, env)
        driver = build_driver(opts.stack, opts.driver, opts.layout, env, opts.cache_dir)
        with stack_lock(opts.layout):
            if inflight_path(opts.layout).is_file():
                # Swapping now would back up a side's build as "the original".
                raise UsageError(
                    f"{inflight_path(opts.layout)} exists: an earlier run was killed before "
                    "it restored the original build; run ./two_sided.sh --recover first"
                )
            return TwoSided(opts, driver).run()
    except (UsageError, DriverError) as exc:
        print(f"two_sided: {exc}\n\n{usage()}", file=sys.stderr)
        return V.EXIT_HARNESS_ERROR


if __name__ == "__main__":
    sys.exit(main())
