"""Exec output stays exact under WAN-like latency and jitter (p0_6's check, over a slow path).

p0_6 (boxlite-ai/boxlite#563) catches an exit frame overtaking the last stdout chunk on
loopback. Over a real network every chunk is late by a varying amount, which widens any such
window between stdout, stderr and the exit frame. Here every byte between SDK and API is
delayed 30 ms (+ 0..30 ms jitter) per chunk, each direction, order kept (network fault
`latency=30,30`), and many execs on several boxes run at once: any lost, reordered or
duplicated byte, or a wrong exit code, fails the case. Measured on the stand-in with the PyPI
SDK 0.10.8: passes (0 lost in 24 execs per run); under the stand-in's `exec-stdout-drop` it
fails like p0_6 does. Its pinned failing side is the mutant `ws-exit-overtakes-output`, on
the matrix row `net:ws-exit-overtakes-output` with the latency kept: deterministic, every exec.
"""

from __future__ import annotations

import asyncio

import pytest

from lib.harness.case_helpers import drain

BOXES = 2
EXECS = 12  # per box


def _script(box: int, i: int) -> str:
    return f"for n in 1 2 3 4 5; do echo b{box}-e{i}-$n; done; echo err-{i} >&2; exit {i % 5}"


def _expected(box: int, i: int) -> tuple[int, str, str]:
    return i % 5, "".join(f"b{box}-e{i}-{n}\n" for n in range(1, 6)), f"err-{i}\n"


# Failing side: `ws-exit-overtakes-output` (a mutant: every attach's exit frame is delivered
# ahead of the output frame before it, #563's reorder made deterministic) loses that output.
@pytest.mark.netfault("latency=30,30", "ws-exit-overtakes-output")
@pytest.mark.catches("net:ws-exit-overtakes-output")
async def test_exec_output_is_exact_under_latency_and_jitter(netfault):
    boxes = await asyncio.gather(*(netfault.box() for _ in range(BOXES)))

    async def one(b: int, i: int):
        out = await drain(await boxes[b].exec("sh", ["-c", _script(b, i)]))
        return (b, i), (out.exit_code, out.stdout, out.stderr)

    results = await asyncio.gather(*(one(b, i) for b in range(BOXES) for i in range(EXECS)))
    wrong = {key: got for key, got in results if got != _expected(*key)}
    assert not wrong, (
        f"{len(wrong)} of {len(results)} execs not exact under {netfault.plan.label}: "
        + "; ".join(f"{k}: {v!r} != {_expected(*k)!r}" for k, v in sorted(wrong.items())[:5])
    )
    # Every exec's attach is a connection of its own: all of them went through the proxy.
    assert len(netfault.proxy.of_kind("connection")) >= len(results), netfault.proxy.summary()
