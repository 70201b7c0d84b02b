"""The lib/ tier contracts (`[tool.importlinter]` in pyproject.toml) hold, and can break.

`make lint` runs `lint-imports`; this proves both sides on copies of the tree: the real
tree keeps every contract, and one upward import of each kind breaks the matching one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lib.names import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    for pkg in ("lib", "standin"):
        shutil.copytree(REPO_ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path):
    done = _lint(_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("lib/harness/reports.py", "import lib.proof.verdict", "lib tiers"),
        ("lib/stack/health.py", "import lib.proof.pins", "lib tiers"),
        ("lib/stats.py", "import lib.harness.config", "shared leaves"),
        ("standin/faults.py", "import lib.names", "the stand-in imports nothing"),
    ],
)
def test_an_upward_import_breaks_its_contract(tmp_path, module, line, contract):
    root = _tree(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n{line}  # injected by the self-test\n")
    done = _lint(root)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = [ln for ln in done.stdout.splitlines() if ln.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), done.stdout
