"""The CI workflows: actionlint-clean, and wired the way upstream's were not (its e2e-stack
declared a `pr_ref` input no step used, uploaded nothing, and could never go green)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from lib.names import REPO_ROOT

HARNESS = REPO_ROOT
WORKFLOWS = HARNESS / ".github/workflows"


def actionlint() -> str:
    # Installed into the venv by `make setup` (pyproject); a missing one is a failure.
    found = Path(sys.executable).with_name("actionlint")
    path = str(found) if found.exists() else shutil.which("actionlint")
    assert path, "actionlint is not installed: run make setup"
    return path


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"e2e-stack.yml", "selftest.yml"}
    proc = subprocess.run(
        [actionlint(), *map(str, files)], cwd=HARNESS, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    """The lint step can fail: an unknown runner label and a bad expression are reported."""
    bad = tmp_path / ".github/workflows/bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: [self-hosted, gpu]\n"
        "    steps:\n      - run: echo ${{ github.nope.nope }}\n"
    )
    proc = subprocess.run([actionlint(), str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and 'label "gpu" is unknown' in proc.stdout


def steps_of(text: str) -> list[str]:
    return re.split(r"\n      - ", text)


def test_e2e_stack_workflow_contract():
    text = (WORKFLOWS / "e2e-stack.yml").read_text()
    assert "runs-on: [self-hosted, linux, x64, kvm]" in text
    assert "timeout-minutes:" in text and "concurrency:" in text
    assert "workflow_dispatch:" in text
    for key in ("boxlite_ref:", "pr_ref:", "cases:", "repeat:"):
        assert key in text
    assert re.search(r"paths: &harness-paths\n(\s+- .+\n)+", text)
    steps = steps_of(text)
    # the pr_ref input really drives a two_sided.sh run (upstream's was never used)
    two_sided = [s for s in steps if "./two_sided.sh STACK=cloud" in s]
    assert len(two_sided) == 1 and "if: env.PR_REF != ''" in two_sided[0]
    assert 'PR_REF="$PR_SHA"' in two_sided[0]
    assert "PR_REF: ${{ inputs.pr_ref }}" in text
    # results and JUnit always uploaded; log tails and --recover when things go wrong
    upload = [s for s in steps if "actions/upload-artifact" in s]
    assert upload and all("if: always()" in s and "path: results/" in s for s in upload)
    assert any("journalctl -u boxlite-runner" in s and "if: failure()" in s for s in steps)
    assert any("--recover" in s and "cancelled()" in s for s in steps)


def test_selftest_workflow_contract():
    text = (WORKFLOWS / "selftest.yml").read_text()
    assert text.count("runs-on: ubuntu-latest") == 3
    assert "make lint" in text and "bash .ci/run" in text
    assert "make test:e2e:standin" in text
    assert "test -d /run/systemd/system" in text  # the journal path is exercised for real
    assert "if: always()" in text and "actions/upload-artifact" in text
