"""Which cases must catch which fault, read from the cases' own `catches` marks.

Why this exists: the mutation matrix needs, per stand-in fault, the cases that must fail
under it. That fact belongs on the case (`@pytest.mark.catches("quota-clamp")`, validated
against the fault registry by the harness plugin), not in a table kept in step by hand.
This module is both halves of reading it back:

- a pytest plugin (`-p lib.proof.pins --e2e-pins-out FILE`) that, at the end of collection,
  writes `{fault: [node id, ...]}` for every collected case carrying a `catches` mark
  (parametrised cases once per parameter set, marks on a `pytest.param` included);
- `collect(selection)`, which runs a `--collect-only` pytest in a subprocess with that
  plugin (collection needs no stack: the harness plugin treats `--collect-only` as
  informational) and returns the mapping.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from lib import processes
from lib.errors import HarnessError
from lib.names import REPO_ROOT

Pins = dict[str, tuple[str, ...]]
# Not a fault: the SDK-axis cases that xfail by design for their SDK (`sdk_bug(sdk, ...)`,
# a client-side bug of that SDK's binding, strict xfail on every stack, clean runs included).
CLIENT_BUGS = "(sdk_bug)"


class PinsError(HarnessError):
    """The catalogue could not be collected, so its pins are unknown."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--e2e-pins-out FILE`."""
    parser.addoption(
        "--e2e-pins-out", metavar="FILE", help="write {fault: [case node ids]} from catches marks"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """With `--e2e-pins-out`: write {fault: sorted node ids} from the collected cases' `catches`
    marks."""
    out = session.config.getoption("--e2e-pins-out")
    if not out:
        return
    found: dict[str, list[str]] = {}
    for item in session.items:
        for mark in item.iter_markers("catches"):
            for fault in mark.args:
                found.setdefault(fault, []).append(item.nodeid)
        callspec = getattr(item, "callspec", None)
        sdk = callspec.params.get("sdk") if callspec is not None else None
        if any(m.args[:1] == (sdk,) for m in item.iter_markers("sdk_bug")):
            found.setdefault(CLIENT_BUGS, []).append(item.nodeid)
    Path(out).write_text(json.dumps({f: sorted(set(c)) for f, c in sorted(found.items())}))


def collect(selection: Sequence[str] = ("cases",), cwd: Path = REPO_ROOT) -> Pins:
    """{fault: node ids} for `selection`, from a collect-only pytest run in `cwd`."""
    with tempfile.TemporaryDirectory(prefix="boxlite-e2e-pins-") as tmp:
        out = Path(tmp) / "pins.json"
        argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        argv += ["-p", "lib.proof.pins", f"--e2e-pins-out={out}", *selection]
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0 or not out.is_file():
            tail = processes.tail(proc.stdout + proc.stderr, 15)
            raise PinsError(f"collecting {' '.join(selection)} exited {proc.returncode}:\n{tail}")
        return {f: tuple(c) for f, c in json.loads(out.read_text()).items()}
