"""P0-6: exec stdout must arrive complete before the exit frame (boxlite-ai/boxlite#563).

The bug: on the REST path the exit frame could overtake the last stdout chunks, so `wait()`
resolved with the right exit code while the tail of the output (often all of it, for a short
command) was silently gone. Fixed by PR #563 (drain folded into `Execution.Wait`) and its
REST follow-ups; this case guards the fix. The stand-in reproduces the bug with the fault
`exec-stdout-drop[=P]` (the exit frame overtakes the newest stdout chunk with probability P
per exec), which is how the mutation matrix proves this case detects it.

Design (history: docs/history.md):

- the race is per exec, so the case amplifies the window with many round trips instead of
  many boxes (n execs see a per-exec loss q with probability 1-(1-q)^n):
  BOXLITE_E2E_P06_BOXES boxes x BOXLITE_E2E_P06_EXECS execs each
  (resolved by lib.harness.config), the boxes driven concurrently, each box's execs back to back;
- the defaults (3 x 40 = 120 execs) catch a per-exec loss of 5 % with probability
  1 - 0.95^120 > 99.7 % in one run (n >= ln(0.01)/ln(0.95) ~ 90); the power for the chosen n is
  printed with the result;
- every exec prints a known multi-line payload whose LAST line is a marker, and the exec
  counts as lossy if a single byte differs; zero tolerance: any lossy exec fails the case;
- the loss rate is printed with a Wilson 95 % interval and a histogram of the fraction of
  the payload that arrived, so a partial tail loss and a total loss look different.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

import pytest

from lib.harness.case_helpers import drain, histogram
from lib.stats import detection_power, runs_needed, wilson_interval

LINES = 12  # payload lines before the marker: enough for a tail loss to be a partial loss
TARGET_Q, TARGET_POWER = 0.05, 0.99

# The payload is produced by the box's own shell so that it leaves the box as one or more
# stdout writes ending just before exit, which is exactly the window the bug lives in.
SCRIPT = (
    'i=1; while [ "$i" -le {lines} ]; do echo "p06 $1 line $i of {lines}"; i=$((i+1)); done; '
    'echo "P06-END $1"'
)


def expected_payload(tag: str) -> str:
    body = "".join(f"p06 {tag} line {i} of {LINES}\n" for i in range(1, LINES + 1))
    return body + f"P06-END {tag}\n"


def bucket(got: str, want: str) -> str:
    if got == want:
        return "complete"
    if not got:
        return "nothing"
    if want.startswith(got):
        share = len(got) / len(want)
        return "<50% (prefix)" if share < 0.5 else ">=50% (prefix)"
    return "corrupted"


@pytest.mark.catches("exec-stdout-drop")
async def test_exec_stdout_is_complete_before_exit(box_factory, e2e_config):
    boxes_n = e2e_config.p06_boxes
    execs_n = e2e_config.p06_execs
    total = boxes_n * execs_n
    boxes = await asyncio.gather(*(box_factory() for _ in range(boxes_n)))
    run_tag = secrets.token_hex(3)
    script = SCRIPT.format(lines=LINES)
    outcomes: list[tuple[str, str, int, str]] = []  # (tag, bucket, exit, stderr)

    async def hammer(index: int, box) -> None:
        for i in range(execs_n):
            tag = f"{run_tag}-b{index}-e{i}"
            out = await drain(await box.exec("sh", ["-c", script, "p06", tag]))
            outcomes.append(
                (tag, bucket(out.stdout, expected_payload(tag)), out.exit_code, out.stderr)
            )

    await asyncio.gather(*(hammer(i, b) for i, b in enumerate(boxes)))

    lossy = [o for o in outcomes if o[1] != "complete"]
    low, high = wilson_interval(len(lossy), total)
    hist = Counter(o[1] for o in outcomes)
    order = ["complete", ">=50% (prefix)", "<50% (prefix)", "nothing", "corrupted"]
    print(
        f"\np0_6: {boxes_n} boxes x {execs_n} execs = {total} execs; lossy {len(lossy)} "
        f"({len(lossy) / total:.1%}, Wilson 95% [{low:.1%}, {high:.1%}])"
    )
    print(
        f"p0_6: power to see a {TARGET_Q:.0%} per-exec loss in this run: "
        f"{detection_power(TARGET_Q, total):.2%} (>= {TARGET_POWER:.0%} needs "
        f">= {runs_needed(TARGET_Q, TARGET_POWER)} execs)"
    )
    print("p0_6: payload received per exec:")
    print("\n".join(histogram({k: hist.get(k, 0) for k in order})))

    assert len(outcomes) == total
    # Exit codes and stderr are checked too: the bug must not hide behind a failing command.
    failed = [o for o in outcomes if o[2] != 0 or o[3]]
    assert not failed, f"{len(failed)} exec(s) did not exit 0 cleanly, e.g. {failed[:3]}"
    assert not lossy, (
        f"{len(lossy)}/{total} execs lost stdout before the exit frame "
        f"(boxlite-ai/boxlite#563); first: {[(o[0], o[1]) for o in lossy[:5]]}"
    )
