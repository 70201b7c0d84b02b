"""One venv rule for every entry point: scripts/harness-python.sh.

bootstrap.sh, teardown.sh, two_sided.sh and fixture_setup.py all run the interpreter it
picks: `$VENV` (relative to the harness root, as in the Makefile), default `.venv`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.names import REPO_ROOT

HELPER = REPO_ROOT / "scripts/harness-python.sh"
VENV = Path(sys.prefix)


def _prefix(cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [
            str(HELPER),
            "-c",
            "import os, sys; print(sys.prefix, os.environ['BOXLITE_E2E_HARNESS_PYTHON'])",
        ],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_venv_setting_is_honoured_absolute_and_relative_to_the_root(tmp_path):
    assert _prefix(tmp_path, VENV=str(VENV)) == f"{VENV} 1"
    relative = os.path.relpath(VENV, REPO_ROOT)
    assert _prefix(tmp_path, VENV=relative) == f"{VENV} 1"  # not relative to the cwd


@pytest.mark.parametrize("script", ["bootstrap.sh", "teardown.sh", "two_sided.sh"])
def test_shell_entry_points_exec_through_the_helper(script):
    text = (REPO_ROOT / script).read_text()
    assert 'scripts/harness-python.sh" -m lib.' in text
    assert ".venv/bin/python" not in text


def test_fixture_setup_reexecutes_through_the_helper_outside_the_venv(tmp_path):
    # The system python (not the venv) runs it: it must re-exec under the venv and work.
    done = subprocess.run(
        ["/usr/bin/python3", str(REPO_ROOT / "fixture_setup.py"), "--help"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "VENV": str(VENV)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: fixture_setup.py" in done.stdout
