"""two_sided.sh end to end against a fake stack: real shell, real git worktrees, real pytest
runs, real signals. The fake stack (tests/two_sided_fake.py) makes a side's case fail or
pass by the word its ref declares, so every verdict and every exit path is exercised in
seconds; tests/test_two_sided_standin.py does the same on the real stand-in stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib.names import REPO_ROOT
from lib.proof import two_sided as T
from lib.proof import worktrees as W
from tests import two_sided_fake as fake

HARNESS = REPO_ROOT
SCRIPT = HARNESS / "two_sided.sh"
FAKE_PATH = Path(__file__).with_name("two_sided_fake.py")

# Settings a developer may have exported; a test must not inherit them.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in T.KEYS and k != "BOXLITE_E2E_STACK"}


class Stack:
    """One fake stack + fixture repo + results dir, all under tmp_path."""

    def __init__(self, tmp_path: Path, branches: dict[str, str]) -> None:
        self.tmp = tmp_path
        self.state = tmp_path / "deployed"
        self.state.write_text("original\n")
        self.events = tmp_path / "events"
        self.started = tmp_path / "case-started"
        self.results = tmp_path / "results"
        self.work = tmp_path / "work"
        case = tmp_path / "fake_cases" / "test_fake_case.py"
        case.parent.mkdir()
        case.write_text(fake.CASE)
        self.repo = fake.make_repo(
            tmp_path / "repo", {b: {"fake-build": w + "\n"} for b, w in branches.items()}
        )
        self.before = W.RepoState.of(self.repo)
        self.env = {
            **CLEAN_ENV,
            "BOXLITE_E2E_ROOT": str(tmp_path / "root"),
            "FAKE_STACK_STATE": str(self.state),
            "FAKE_STACK_EVENTS": str(self.events),
            "FAKE_CASE_STARTED": str(self.started),
            "DRIVER": f"{FAKE_PATH}:FakeDriver",
            "CASES": str(case),
            "REPO": str(self.repo),
            "RESULTS_DIR": str(self.results),
            "WORK_DIR": str(self.work),
        }

    def argv(self, **words: str) -> list[str]:
        return [str(SCRIPT), *(f"{k}={v}" for k, v in words.items())]

    def run(self, **words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(**words), env=self.env, capture_output=True, text=True, timeout=180
        )

    def report(self) -> dict:
        return json.loads((self.results / "two_sided.json").read_text())

    def event_lines(self) -> list[str]:
        return self.events.read_text().splitlines() if self.events.exists() else []

    def assert_left_as_found(self) -> None:
        """The user's checkout, the deployed build and the temp dirs are as before."""
        assert W.RepoState.of(self.repo) == self.before
        assert W.registered(self.repo) == [self.repo]
        assert self.state.read_text() == "original\n"
        assert not self.work.exists() or list(self.work.iterdir()) == []


def test_fixed_on_pr_exits_0_and_restores(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = stack.report()
    assert report["exit_code"] == 0 and report["verdict"]["label"] == "FIXED"
    assert [r["outcome"] for r in report["runs"]] == ["fail", "pass"]
    assert report["sides"]["main"]["sha"] == fake.git(stack.repo, "rev-parse", "main")
    assert report["original"] == {"build": "original"}
    assert report["cleanup"] == {
        "restored": True,
        "worktrees_removed": True,
        "checkout_unchanged": True,
    }
    assert "VERDICT 0 FIXED" in proc.stdout
    assert "residual failure rate on PR < 95.0%" in proc.stdout
    # JUnit per run, read by the verdict
    assert (stack.results / "two_sided/r001-main.xml").is_file()
    assert stack.event_lines()[-1] == "restore original"
    stack.assert_left_as_found()


def test_still_failing_on_pr_exits_1(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "fixed", "fix": "buggy"})
    # reversed: main is clean, the "fix" carries the bug
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert stack.report()["verdict"]["label"] == "STILL FAILS"
    stack.assert_left_as_found()


def test_bug_on_both_sides_exits_1(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "buggy"})
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 1
    assert "still fails on PR" in proc.stdout
    stack.assert_left_as_found()


def test_clean_on_both_sides_exits_2_with_detection_floor(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "fixed", "fix": "fixed"})
    proc = stack.run(PR_REF="fix", REPEAT="2")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "VERDICT 2 NOT DETECTED" in proc.stdout
    assert "fails at least 77.6% of runs" in proc.stdout  # 1-0.05^(1/2)
    stack.assert_left_as_found()


def test_missing_ref_exits_125_before_touching_anything(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    proc = stack.run(PR_REF="no-such-branch")
    assert proc.returncode == 125, proc.stdout + proc.stderr
    assert "ref 'no-such-branch' does not exist" in proc.stdout
    assert stack.event_lines() == []  # no snapshot, no build, no swap
    stack.assert_left_as_found()


def test_build_failure_exits_125_and_restores(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "broken"})
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 125
    assert "the fake build is broken" in proc.stdout
    assert stack.event_lines()[-1] == "restore original"
    stack.assert_left_as_found()


def test_bring_up_failure_exits_125_and_restores(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "wont-start"})
    proc = stack.run(PR_REF="fix", REPEAT="3")
    assert proc.returncode == 125
    report = stack.report()
    assert "did not come up" in report["verdict"]["summary"]
    assert [r["side"] for r in report["runs"]] == ["main"]  # stopped at the first failure
    stack.assert_left_as_found()


def test_stack_down_exits_125_untouched(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    stack.state.unlink()
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 125 and "not up" in proc.stdout
    assert stack.event_lines() == []


def test_repeat_interleaves_sides_and_counts_runs(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    proc = stack.run(PR_REF="fix", REPEAT="5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = stack.report()
    order = [(r["round"], r["side"]) for r in report["runs"]]
    assert order == [(r, s) for r in range(1, 6) for s in ("main", "pr")]
    assert report["order"] == [f"{r}:{s}" for r, s in order]
    # the driver really swapped builds between every run, in that order
    activations = [e.split()[1] for e in stack.event_lines() if e.startswith("activate")]
    assert activations == ["main", "pr"] * 5
    main, pr = report["sides"]["main"], report["sides"]["pr"]
    assert (main["runs"], main["failing_runs"], pr["runs"], pr["failing_runs"]) == (5, 5, 5, 0)
    assert report["verdict"]["statistics"]["fisher_one_sided_p"] == pytest.approx(1 / 252)
    assert "residual failure rate on PR < 45.1%" in proc.stdout
    assert len(report["timings"]["activate_s"]) == 10
    stack.assert_left_as_found()


def wait_for(path: Path, proc: subprocess.Popen, deadline: float = 60.0) -> str:
    """Bounded wait for the fake case to say it is running (a real signal, not a guess)."""
    end = time.monotonic() + deadline
    while not (path.is_file() and path.read_text()):
        assert proc.poll() is None, f"two_sided exited early: {proc.communicate()}"
        assert time.monotonic() < end, "the fake case never started"
        time.sleep(0.05)
    return path.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_restores_and_exits_128_plus_signal(tmp_path: Path, sig: signal.Signals):
    stack = Stack(tmp_path, {"main": "hang", "fix": "fixed"})
    proc = subprocess.Popen(
        stack.argv(PR_REF="fix", REPEAT="3"),
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    case_pid = int(wait_for(stack.started, proc))
    assert stack.state.read_text() == "hang\n"  # mid-run: main's build is swapped in
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, out + err
    report = stack.report()
    assert report["verdict"]["label"] == "INTERRUPTED"
    assert report["cleanup"]["restored"] is True
    # the pytest run was stopped with its process group, not left behind
    assert not Path(f"/proc/{case_pid}").exists()
    stack.assert_left_as_found()


def test_second_signal_during_restore_does_not_abort_it(tmp_path: Path):
    """Ctrl-C twice: the restore still completes."""
    stack = Stack(tmp_path, {"main": "hang", "fix": "fixed"})
    proc = subprocess.Popen(
        stack.argv(PR_REF="fix"), env=stack.env, stdout=subprocess.PIPE, text=True
    )
    wait_for(stack.started, proc)
    proc.send_signal(signal.SIGINT)
    # as soon as the restore begins, interrupt again
    end = time.monotonic() + 60
    while "restore" not in " ".join(stack.event_lines()):
        assert time.monotonic() < end
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    stack.assert_left_as_found()


def test_failed_restore_overrides_the_verdict_with_128(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    stack.env["FAKE_RESTORE_FAILS"] = "1"
    proc = stack.run(PR_REF="fix")
    assert proc.returncode == 128
    report = stack.report()
    # the verdict is kept in the report, the exit code says the host needs care
    assert report["verdict"]["exit_code"] == 0
    assert report["cleanup"]["restored"] is False
    assert "CLEANUP PROBLEM: restore failed" in proc.stdout
    assert W.registered(stack.repo) == [stack.repo]


def test_relative_repo_and_env_settings(tmp_path: Path):
    """REPO relative to the caller's cwd; settings from the environment; words win."""
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    env = {**stack.env, "REPO": "repo", "PR_REF": "no-such-branch"}
    proc = subprocess.run(
        [str(SCRIPT), "PR_REF=fix"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stack.report()["repo"] == str(stack.repo)


def test_usage_errors_exit_128(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    for words, message in [
        ({}, "PR_REF required"),
        ({"PR_REF": "fix", "REPEATS": "5"}, "unknown setting 'REPEATS'"),
        ({"PR_REF": "fix", "REPEAT": "0"}, "REPEAT must be >= 1"),
        ({"PR_REF": "fix", "REPEAT": "many"}, "must be numbers"),
    ]:
        proc = stack.run(**words)
        assert proc.returncode == 128, words
        assert message in proc.stderr
    assert stack.event_lines() == []


def test_one_run_per_stack_at_a_time(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "hang", "fix": "fixed"})
    first = subprocess.Popen(
        stack.argv(PR_REF="fix"), env=stack.env, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(stack.started, first)
        second = stack.run(PR_REF="fix")
        assert second.returncode == 128
        assert "another two-sided run holds" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    stack.assert_left_as_found()


def test_parse_args_unit():
    env = {"PR_REF": "env-ref", "REPO": "r", "CASES": "cases/a.py  'cases/b c.py'"}
    opts = T.parse_args(["PR_REF=word-ref", "REPEAT=3"], env, Path("/work"))
    assert opts.pr_ref == "word-ref" and opts.main_ref == "main"
    assert opts.repo == Path("/work/r")
    assert opts.cases == ["cases/a.py", "cases/b c.py"]
    assert opts.repeat == 3 and opts.stack == "standin"
    opts = T.parse_args([], {**env, "BOXLITE_E2E_STACK": "cloud"}, Path("/"))
    assert opts.stack == "cloud"
    with pytest.raises(T.UsageError, match="not KEY=VALUE"):
        T.parse_args(["fix"], env, Path("/"))


def test_make_target_requires_pr_ref():
    proc = subprocess.run(
        ["make", "-s", "test:e2e:two-sided"],
        cwd=HARNESS,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "PR_REF is required" in proc.stderr


def test_sigkill_leaves_a_record_that_recover_uses(tmp_path: Path):
    """SIGKILL cannot be handled: the next run refuses to start, `--recover` restores."""
    stack = Stack(tmp_path, {"main": "hang", "fix": "fixed", "old": "buggy"})
    proc = subprocess.Popen(
        stack.argv(PR_REF="fix"), env=stack.env, stdout=subprocess.PIPE, text=True
    )
    case_pid = int(wait_for(stack.started, proc))
    proc.kill()
    proc.communicate(timeout=30)
    assert stack.state.read_text() == "hang\n"  # the side's build is still swapped in
    assert len(W.registered(stack.repo)) == 3

    refused = stack.run(PR_REF="fix")
    assert refused.returncode == 128
    assert "--recover" in refused.stderr
    assert stack.state.read_text() == "hang\n"  # refusing touched nothing

    recovered = subprocess.run(
        [str(SCRIPT), "--recover"], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "original build restored" in recovered.stdout
    assert not Path(f"/proc/{case_pid}").exists() or _zombie(case_pid)
    stack.assert_left_as_found()
    again = subprocess.run(
        [str(SCRIPT), "--recover"], env=stack.env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "nothing to recover" in again.stdout
    # and the stack is usable again
    assert stack.run(MAIN_REF="old", PR_REF="fix").returncode == 0


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_bad_case_knob_is_refused_before_anything_is_built(tmp_path: Path):
    """issue 12 drill: BOXLITE_E2E_P06_EXECS=-3 used to build both sides, restart the stack
    and then report only "pytest exited 2"."""
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    stack.env["BOXLITE_E2E_P06_EXECS"] = "-3"
    proc = stack.run(PR_REF="fix", CASES="cases/no_such_case.py")
    assert proc.returncode == 128, proc.stdout + proc.stderr
    assert "BOXLITE_E2E_P06_EXECS='-3': expected a positive integer" in proc.stderr
    assert "CASES: cases/no_such_case.py does not exist" in proc.stderr
    assert stack.event_lines() == []  # no snapshot, no build, no swap
    stack.assert_left_as_found()


def test_a_run_that_cannot_start_is_void_and_says_why(tmp_path: Path):
    stack = Stack(tmp_path, {"main": "buggy", "fix": "fixed"})
    proc = stack.run(PR_REF="fix", PYTEST_ARGS="--no-such-option")
    assert proc.returncode == 125, proc.stdout + proc.stderr
    # the verdict quotes the cause from the run's log, not only the exit status
    assert "unrecognized arguments: --no-such-option" in proc.stdout, proc.stdout
    stack.assert_left_as_found()


def test_run_cause_prefers_the_runs_summary_then_its_log(tmp_path: Path):
    log = tmp_path / "r.log"
    log.write_text("$ pytest ...\nnoise\nExit: boxlite-e2e cannot start: API unreachable\n")
    assert T.run_cause(tmp_path, log) == "Exit: boxlite-e2e cannot start: API unreachable"
    (tmp_path / "summary.json").write_text(json.dumps({"reason": "cannot start: bad key"}))
    assert T.run_cause(tmp_path, log) == "cannot start: bad key"
