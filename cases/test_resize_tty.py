"""TTY resize over REST: it reaches the terminal of a tty exec, and a non-tty exec refuses it.

`execution.resize_tty(rows, cols)` is an HTTP `POST .../executions/{eid}/resize`
(rest-protocol.md §2, not in-band). The contract pinned here, taken from the real guest
(which answers a resize of a process without a terminal with a rejection) and enforced on the
stand-in: on a tty exec the new size is what `stty size` reports; on a pipe exec the resize is
refused with a typed 4xx error, never a silent success (the caller would believe a terminal
was resized) and never a 500. The refused resize must not harm the execution either.
"""

from __future__ import annotations

import boxlite
import pytest

from lib.case_helpers import assert_typed, drain


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]


async def test_resize_reaches_the_terminal(box):
    # `read` blocks until told to go, so both resizes land before `stty size` runs.
    script = "stty size; read go; stty size; read go; stty size"
    execution = await box.exec("sh", ["-c", script], tty=True)
    stdin = execution.stdin()
    await execution.resize_tty(40, 120)
    await stdin.send_input(b"go\n")
    await execution.resize_tty(33, 77)
    await stdin.send_input(b"go\n")
    out = await drain(execution)
    assert out.exit_code == 0, out
    sizes = [line for line in _lines(out.stdout) if line != "go"]
    assert sizes[-2:] == ["40 120", "33 77"], out


async def test_resize_of_a_non_tty_exec_is_refused(box):
    execution = await box.exec("sh", ["-c", "read go; echo still-fine"])
    with pytest.raises(boxlite.BoxliteError) as caught:
        await execution.resize_tty(40, 120)
    assert_typed(
        caught.value,
        boxlite.InvalidArgumentError,
        boxlite.InvalidStateError,
        boxlite.UnsupportedError,
        boxlite.ExecutionError,
    )
    # The refusal left the execution alone: it still reads stdin and exits normally.
    await execution.stdin().send_input(b"go\n")
    out = await drain(execution)
    assert (out.exit_code, out.stdout) == (0, "still-fine\n"), out
