"""Exec output and result shape, through every SDK on the axis (python, node, go).

The same contract as the Python-only p0_6 and exec-result cases, stated once through the
neutral client (lib/harness/sdk) so each SDK's binding layer is exercised: the fix for
boxlite-ai/boxlite#563 was in the Go SDK's `Execution.Wait`, and upstream's Python e2e case
passed on both sides of it. The stand-in's fault `exec-stdout-drop[=P]` (the exit frame
overtakes the last stdout chunk) makes the amplified case fail for every SDK.

- output exactness: BOXLITE_E2E_P06_BOXES boxes x BOXLITE_E2E_P06_EXECS multi-line execs
  each, every byte compared, zero tolerance (p0_6's design and power: 120 execs catch a 5 %
  per-exec loss with probability 99.8 %);
- result shape: exit codes round-trip, an ended exec has no error message, stdout and stderr
  stay separate, a large output arrives whole, unicode is exact.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from lib.stats import wilson_interval

LINES = 12
SCRIPT = (
    f'i=1; while [ "$i" -le {LINES} ]; do echo "sdk $1 line $i of {LINES}"; i=$((i+1)); done; '
    'echo "SDK-END $1"'
)


def expected(tag: str) -> str:
    return "".join(f"sdk {tag} line {i} of {LINES}\n" for i in range(1, LINES + 1)) + (
        f"SDK-END {tag}\n"
    )


@pytest.mark.catches("exec-stdout-drop")
async def test_multiline_output_is_complete_before_exit(client, image, e2e, e2e_config):
    boxes_n, execs_n = e2e_config.p06_boxes, e2e_config.p06_execs
    boxes = await asyncio.gather(*(client.create(image) for _ in range(boxes_n)))
    for made in boxes:
        e2e.ledger.claim(made.id)
    run_tag = secrets.token_hex(3)
    lossy: list[tuple[str, str]] = []
    bad_exit: list[tuple[str, int, str]] = []

    async def hammer(index: int, made) -> None:
        for i in range(execs_n):
            tag = f"{run_tag}-b{index}-e{i}"
            out = await made.run("sh", "-c", SCRIPT, "sdk", tag)
            if out.stdout != expected(tag):
                lossy.append((tag, out.stdout[-60:]))
            if out.exit_code != 0 or out.stderr:
                bad_exit.append((tag, out.exit_code, out.stderr[:80]))

    await asyncio.gather(*(hammer(i, b) for i, b in enumerate(boxes)))
    total = boxes_n * execs_n
    low, high = wilson_interval(len(lossy), total)
    print(
        f"\n{client.sdk} {client.version}: {total} execs, lossy {len(lossy)} "
        f"(Wilson 95% [{low:.1%}, {high:.1%}])"
    )
    assert not bad_exit, f"{len(bad_exit)} exec(s) did not exit 0 cleanly: {bad_exit[:3]}"
    assert not lossy, (
        f"[{client.sdk}] {len(lossy)}/{total} execs lost stdout before the exit frame "
        f"(boxlite-ai/boxlite#563); first: {lossy[:3]}"
    )


async def test_result_shape_on_success(sdk_box):
    execution = await sdk_box.exec("true")
    assert isinstance(execution.id, str) and execution.id
    out = await execution.drain()
    assert (out.exit_code, out.error_message, out.stdout, out.stderr) == (0, None, "", ""), out


@pytest.mark.parametrize("code", [0, 1, 2, 42, 126, 127, 255])
async def test_exit_codes_round_trip(sdk_box, code):
    out = await sdk_box.sh(f"exit {code}")
    assert (out.exit_code, out.error_message) == (code, None), out


async def test_killed_by_signal_reports_128_plus_signal(sdk_box):
    out = await sdk_box.sh("kill -9 $$")
    assert out.exit_code in (137, -9), out


async def test_stdout_and_stderr_are_separate(sdk_box):
    out = await sdk_box.sh("echo to-out; echo to-err >&2; echo more-out; exit 3")
    assert (out.exit_code, out.stdout, out.stderr) == (3, "to-out\nmore-out\n", "to-err\n"), out


async def test_large_stdout_arrives_complete(sdk_box):
    out = await sdk_box.sh("seq 1 4000")
    want = "".join(f"{i}\n" for i in range(1, 4001))
    assert out.exit_code == 0, out
    assert out.stdout == want, f"got {out.stdout.count(chr(10))} of 4000 lines"


async def test_unicode_is_exact(sdk_box):
    text = "héllo wörld — 日本語 🙂"
    out = await sdk_box.sh(f"printf '%s\\n' '{text}'")
    assert out.stdout == text + "\n", out
