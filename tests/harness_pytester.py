"""What the harness's pytester self-tests share: the real conftest, its env, the summary.

Why this exists: tests/test_plugin.py (against the fake stack) and
tests/test_harness_integration.py (against the real stand-in) both run the real
`cases/conftest.py` in a pytester dir, configured only through the BOXLITE_E2E_* environment
the way a user runs `make test:e2e`, and read `results/summary.json` afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from lib.names import REPO_ROOT

CASES = REPO_ROOT / "cases"


def use_cases_conftest(pytester: pytest.Pytester, *addopts: str) -> None:
    """The repo's pytest settings (plus `addopts`) and the real cases/conftest.py."""
    opts = ", ".join(f'"{opt}"' for opt in ("-p", "no:cacheprovider", *addopts))
    pytester.makepyprojecttoml(
        f"""
[tool.pytest]
strict_markers = true
strict_xfail = true
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
addopts = [{opts}]
"""
    )
    pytester.makeconftest((CASES / "conftest.py").read_text())


def point_harness_at(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    api_url: str,
    api_key: str,
    runner_log: Path,
    api_log: Path,
    extra: Mapping[str, str] | None = None,
) -> Path:
    """Point the harness at a stack through its real env interface only (no BOXLITE_E2E_*
    from outside, no profile); `extra`: more variables. Returns the results dir."""
    for key in list(os.environ):
        if key.startswith("BOXLITE_E2E_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BOXLITE_HOME", str(tmp_path / "bxhome"))  # no profile: env only
    monkeypatch.setenv("BOXLITE_E2E_API_URL", api_url)
    monkeypatch.setenv("BOXLITE_E2E_API_KEY", api_key)
    monkeypatch.setenv("BOXLITE_E2E_RUNNER_LOG", str(runner_log))
    monkeypatch.setenv("BOXLITE_E2E_API_LOG", str(api_log))
    monkeypatch.setenv("BOXLITE_E2E_RESULTS_DIR", str(tmp_path / "results"))
    for key, value in (extra or {}).items():
        monkeypatch.setenv(key, value)
    return tmp_path / "results"


def summary(results: Path) -> dict:
    return json.loads((results / "summary.json").read_text())
