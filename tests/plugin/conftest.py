"""The fake stack the plugin's pytester self-tests run the real cases/conftest.py against.

`stack` is tests/fakestack.py's in-process API + runner logs; `env` points the harness at it
through its real BOXLITE_E2E_* interface (the way a user runs `make test:e2e`); `run(source)`
writes a case file into a pytester dir with the real conftest and runs it. Shared by every
module in this folder, so none imports fixtures from another.
"""

from __future__ import annotations

import httpcore  # noqa: F401
import pytest

# Import what the inner runs import *before* pytester snapshots sys.modules: in-process
# runs drop modules first imported inside them, and a re-imported httpcore would no longer
# match the exception classes httpx mapped lazily (ConnectError would escape unwrapped).
import lib.harness.plugin  # noqa: F401
from tests.fakestack import FakeStack, FakeStackServer
from tests.harness_pytester import point_harness_at, use_cases_conftest


@pytest.fixture
def stack(tmp_path):
    fake = FakeStack(api_log=tmp_path / "api.log", runner_log=tmp_path / "runner.log")
    fake.api_log.write_text("")
    fake.runner_log.write_text("component=runner event=start\n")
    with FakeStackServer(fake) as running:
        yield running


@pytest.fixture
def env(stack, tmp_path, monkeypatch):
    """Point the harness at the fake stack through its real env interface."""
    extra = {
        "BOXLITE_E2E_CLI": "",
        "BOXLITE_E2E_PATH_DEADLINE": "0.3",  # misses are expected here
        "PATH": "/usr/bin:/bin",
    }
    return point_harness_at(
        monkeypatch,
        tmp_path,
        api_url=stack.url,
        api_key=stack.key,
        runner_log=stack.runner_log,
        api_log=stack.api_log,
        extra=extra,
    )


@pytest.fixture
def run(pytester, env):
    use_cases_conftest(pytester)

    def go(source: str, *args: str, subprocess: bool = False):
        pytester.makepyfile(test_case=source)
        # An exit during pytest_configure leaves in-process pytester without its recorder,
        # so start-up failures run in a subprocess (which is also how users see them).
        if subprocess:
            return pytester.runpytest_subprocess(*args)
        return pytester.runpytest(*args)

    return go
