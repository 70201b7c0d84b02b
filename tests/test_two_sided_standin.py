"""two_sided.sh on the real stand-in stack: a whole stack in a temporary root on free ports,
a fixture BoxLite-like git repo whose branches declare stand-in faults, and the real #563
regression case (cases/test_p0_6_exec_stdout_race.py) run through the real SDK.

The stack starts with `attach-no-replay` on, so "restored" is distinguishable from "clean":
after every run the stack must report exactly that fault again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from lib.names import REPO_ROOT
from lib.proof import worktrees as W
from lib.stack import secrets
from tests.stack_helpers import TempStack
from tests.two_sided_fake import git, make_repo

HARNESS = REPO_ROOT
CASE = "cases/test_p0_6_exec_stdout_race.py"
ORIGINAL = ["attach-no-replay"]
FAULTS = ".boxlite-e2e/standin-faults"


@pytest.fixture(scope="module")
def stack(make_stack):
    st = make_stack(faults=ORIGINAL, provision=True)
    # Small, still certain: with the fault at p=1 every exec loses its tail.
    st.env |= {"BOXLITE_E2E_P06_BOXES": "1", "BOXLITE_E2E_P06_EXECS": "10"}
    return st


@pytest.fixture(scope="module")
def repo(stack: TempStack) -> Path:
    return make_repo(
        stack.root / "fixture-boxlite",
        {
            "main": {FAULTS: "# #563 still open on main\nexec-stdout-drop\n"},
            "fix-563": {FAULTS: "# fixed: no faults\n"},
            "broken-fix": {FAULTS: "exec-stdout-drop\n"},
            "clean-main": {FAULTS: ""},
        },
    )


def faults_now(stack: TempStack) -> list[str]:
    key = secrets.load(stack.layout.secrets_file)["ADMIN_API_KEY"]
    body = httpx.get(
        f"{stack.layout.api_url}/v1/_standin/faults",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).json()
    return sorted(f["name"] for f in body["faults"])


def e2e_boxes(stack: TempStack) -> list[dict] | None:
    """The org's boxes named by a harness run (`e2e-<run>-...`); None while the API is
    restarting (a side's faults being swapped in)."""
    key = secrets.load(stack.layout.secrets_file)["ADMIN_API_KEY"]
    headers = {"Authorization": f"Bearer {key}"}
    base = stack.layout.api_url
    try:
        prefix = httpx.get(f"{base}/v1/me", headers=headers, timeout=10).json()["path_prefix"]
        boxes = httpx.get(f"{base}/v1/{prefix}/boxes", headers=headers, timeout=10).json()["boxes"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return [b for b in boxes if (b.get("name") or "").startswith("e2e-")]


def argv(repo: Path, results: Path, **words: str) -> list[str]:
    base = {"REPO": str(repo), "CASES": CASE, "RESULTS_DIR": str(results), "STACK": "standin"}
    return [str(HARNESS / "two_sided.sh"), *(f"{k}={v}" for k, v in (base | words).items())]


def two_sided(stack, repo, tmp_path, **words) -> tuple[subprocess.CompletedProcess, dict]:
    before = W.RepoState.of(repo)
    proc = subprocess.run(
        argv(repo, tmp_path, **words), env=stack.env, capture_output=True, text=True, timeout=600
    )
    report = json.loads((tmp_path / "two_sided.json").read_text())
    # whatever the verdict: original faults back, worktrees gone, checkout untouched
    assert faults_now(stack) == ORIGINAL
    assert W.registered(repo) == [repo]
    assert W.RepoState.of(repo) == before
    return proc, report


def test_fixed_on_pr_exits_0_interleaved_over_5_rounds(stack, repo, tmp_path):
    proc, report = two_sided(stack, repo, tmp_path, PR_REF="fix-563", REPEAT="5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["stack"] == "standin"
    assert report["original"] == {"faults": ORIGINAL}
    assert report["sides"]["main"]["build"]["faults"] == ["exec-stdout-drop"]
    assert report["sides"]["pr"]["build"]["faults"] == []
    assert [(r["round"], r["side"], r["outcome"]) for r in report["runs"]] == [
        (n, side, "fail" if side == "main" else "pass")
        for n in range(1, 6)
        for side in ("main", "pr")
    ]
    assert "residual failure rate on PR < 45.1%" in proc.stdout
    assert report["verdict"]["statistics"]["fisher_one_sided_p"] < 0.01
    # each run kept its own case report beside its JUnit
    assert (tmp_path / "two_sided/r005-pr.xml").is_file()
    assert (tmp_path / "two_sided/r001-main").is_dir()


def test_reversed_exits_1(stack, repo, tmp_path):
    proc, report = two_sided(stack, repo, tmp_path, MAIN_REF="fix-563", PR_REF="broken-fix")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert report["verdict"]["label"] == "STILL FAILS"


def test_both_clean_exits_2(stack, repo, tmp_path):
    proc, report = two_sided(stack, repo, tmp_path, MAIN_REF="clean-main", PR_REF="fix-563")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "fails at least 95.0% of runs" in proc.stdout


def test_missing_ref_exits_125(stack, repo, tmp_path):
    proc, report = two_sided(stack, repo, tmp_path, PR_REF="no-such-fix")
    assert proc.returncode == 125, proc.stdout + proc.stderr
    assert report["original"] is None  # nothing was swapped


def test_sigint_mid_run_restores_the_original_faults(stack, repo, tmp_path):
    before = W.RepoState.of(repo)
    proc = subprocess.Popen(
        argv(repo, tmp_path, PR_REF="fix-563", REPEAT="3"),
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    end = time.monotonic() + 120
    # bounded wait until the first run holds a box: the Ctrl-C lands on a run in flight
    while not e2e_boxes(stack):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < end, "the first run never made a box"
        time.sleep(0.05)
    assert faults_now(stack) == ["exec-stdout-drop"]  # main's build is in
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    # issue 12 drill: the in-flight run's boxes used to stay running after the restore
    assert e2e_boxes(stack) == [], out
    assert faults_now(stack) == ORIGINAL
    assert W.registered(repo) == [repo]
    assert W.RepoState.of(repo) == before
    assert git(repo, "branch", "--show-current") == "wip"
    report = json.loads((tmp_path / "two_sided.json").read_text())
    assert report["verdict"]["label"] == "INTERRUPTED"
    assert not (stack.layout.state_dir / "two-sided-inflight.json").exists()
