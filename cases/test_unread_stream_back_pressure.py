"""Unread stream back pressure: a large unread stdout must not block anything else.

Ported from upstream's `test_unread_stream_back_pressure.py` (written after boxlite-ai/boxlite#563
folded the stream drain into `Execution.Wait`). If the client stops
reading one execution, nothing may stall on it: not other execs on the same box, not other
boxes, and not that execution's own `wait()`. Upstream only *warned* when the fast exec lost
its output; here the fast execs must return their exact output, and the big output, read
only after `wait()`, must be complete to the last byte: back pressure may slow a producer,
never drop its output.
"""

from __future__ import annotations

import asyncio

from lib.harness.case_helpers import DRAIN_TIMEOUT_S, sh

SIZE = 10 * 1024 * 1024  # 10 MiB of 'x', then a newline and a marker line
PRODUCER = f"head -c {SIZE} /dev/zero | tr '\\0' x; echo; echo BIG-DONE"


async def test_unread_stdout_does_not_block_other_execs_or_boxes(box_factory):
    busy, other = await asyncio.gather(box_factory(), box_factory())
    big = await busy.exec("sh", ["-c", PRODUCER])  # nobody reads it yet

    same_box, other_box = await asyncio.gather(sh(busy, "echo fast-a"), sh(other, "echo fast-b"))
    assert (same_box.exit_code, same_box.stdout) == (0, "fast-a\n"), same_box
    assert (other_box.exit_code, other_box.stdout) == (0, "fast-b\n"), other_box

    result = await asyncio.wait_for(big.wait(), DRAIN_TIMEOUT_S)
    assert result.exit_code == 0, result.error_message

    size, tail, chunks = 0, "", 0
    async for chunk in big.stdout():
        size, tail, chunks = size + len(chunk), (tail + chunk)[-32:], chunks + 1
    print(f"back pressure: {size} bytes in {chunks} chunks read after wait()")
    assert size == SIZE + len("\nBIG-DONE\n"), f"got {size} of {SIZE + 10} bytes"
    assert tail.endswith("x\nBIG-DONE\n"), repr(tail)


async def test_box_stays_usable_while_an_exec_is_unread(box):
    big = await box.exec("sh", ["-c", PRODUCER])
    for i in range(5):
        out = await sh(box, f"echo alive-{i}")
        assert out.stdout == f"alive-{i}\n", out
    await big.kill()
    result = await asyncio.wait_for(big.wait(), DRAIN_TIMEOUT_S)
    assert result.exit_code is not None
