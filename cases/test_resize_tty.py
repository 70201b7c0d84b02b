"""TTY resize over REST: it reaches the terminal of a tty exec, and a non-tty exec refuses it.

`execution.resize_tty(rows, cols)` is an HTTP `POST .../executions/{eid}/resize`
(the SDK never sends it in-band). The contract pinned here, taken from the real guest
(which answers a resize of a process without a terminal with a rejection) and enforced on the
stand-in: on a tty exec the new size is what `stty size` reports; on a pipe exec the resize is
refused with a typed 4xx error, never a silent success (the caller would believe a terminal
was resized) and never a 500. The refused resize must not harm the execution either.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest

from lib.harness.case_helpers import DRAIN_TIMEOUT_S, assert_typed, drain


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]


async def _read_until(stream, seen: list[str], needle: str) -> None:
    """Consume stdout until `needle` has arrived (bounded), keeping what was read."""

    async def scan() -> None:
        while needle not in "".join(seen).replace("\r", ""):
            seen.append(await anext(stream))

    await asyncio.wait_for(scan(), DRAIN_TIMEOUT_S)


async def test_resize_reaches_the_terminal(box):
    # Each `read` blocks until the case has seen the previous size, so every resize lands
    # (HTTP) before the `stty size` (after stdin over the WebSocket) that must show it.
    script = "echo READY; read go; stty size; read go; stty size; echo END"
    execution = await box.exec("sh", ["-c", script], tty=True)
    stdin, stdout, seen = execution.stdin(), execution.stdout(), []
    await _read_until(stdout, seen, "READY")
    await execution.resize_tty(40, 120)
    await stdin.send_input(b"go\n")
    await _read_until(stdout, seen, "40 120")
    await execution.resize_tty(33, 77)
    await stdin.send_input(b"go\n")
    await _read_until(stdout, seen, "END")
    result = await asyncio.wait_for(execution.wait(), DRAIN_TIMEOUT_S)
    assert result.exit_code == 0
    sizes = [line for line in _lines("".join(seen)) if line not in ("go", "END", "READY")]
    assert sizes[-2:] == ["40 120", "33 77"], seen


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
