"""What every self-test module shares: the private-stack factory and the test tiers.

Why this exists: the bootstrap, fixture-setup, teardown and two-sided self-tests each need a
whole stack in a temporary root on free ports, brought up the way a user would (the README's
commands), and closed without leaving a process behind. `make_stack` is the one way to get
one; its options say what the module needs (faults, provisioning with fixture_setup).

Tiers, so the fast loop is a loop of seconds (`pytest -m "not stack"`); `make test` runs all:

- `stack`: starts real services: a private stack, a real stand-in runner/API/registry
  process (the fixtures of tests/standin/conftest.py), or marks itself (`pytestmark`);
- `pytester`: runs the harness plugin in an inner pytest (against the fake stack);
- `unit`: everything else: pure functions, fakes, files in tmp_path.

The tier is derived from the fixtures a test uses, so a new test lands in the right tier
without anyone remembering to mark it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from tests.stack_helpers import TempStack

pytest_plugins = ["pytester"]

# Fixtures that start real processes (see tests/standin/conftest.py, registry_fixtures.py).
STACK_FIXTURES = frozenset(
    {"make_stack", "runner", "runner_factory", "rt", "box", "local_registry", "busybox_image"}
)
TIERS = ("unit", "pytester", "stack")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack: starts real services (a stack or its processes)")
    config.addinivalue_line("markers", "pytester: runs the harness plugin in an inner pytest")
    config.addinivalue_line("markers", "unit: no process, no network beyond a fake in-process")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("stack") or names & STACK_FIXTURES:
            tier = "stack"
        elif "pytester" in names:
            tier = "pytester"
        else:
            tier = "unit"
        if not item.get_closest_marker(tier):
            item.add_marker(tier)


@pytest.fixture(scope="module")
def make_stack() -> Iterator[Callable[..., TempStack]]:
    """`make_stack(bootstrap=True, faults=(), provision=False)` -> a private stand-in stack.

    `bootstrap=False` gives only the root, ports and environment (for tests that run
    bootstrap themselves). `faults` go to `bootstrap.sh --fault`; `provision` runs
    `fixture_setup.py` after it. Every stack made is closed when the module ends, however
    its tests ended; a failing bring-up closes it at once and fails with the output.
    """
    made: list[TempStack] = []

    def make(
        *, bootstrap: bool = True, faults: Sequence[str] = (), provision: bool = False
    ) -> TempStack:
        stack = TempStack.create()
        made.append(stack)
        steps: list[tuple[str, ...]] = []
        if bootstrap:
            steps.append(("bootstrap.sh", "--stack", "standin", *_fault_args(faults)))
        if provision:
            steps.append(("fixture_setup.py", "--stack", "standin"))
        for script, *args in steps:
            done = stack.run(script, *args)
            assert done.returncode == 0, f"{script} {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return stack

    try:
        yield make
    finally:
        for stack in made:
            stack.close()


def _fault_args(faults: Sequence[str]) -> list[str]:
    return [arg for fault in faults for arg in ("--fault", fault)]
