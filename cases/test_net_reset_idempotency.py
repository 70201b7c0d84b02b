"""A connection reset right after a create or remove response: no duplicate, no leak, no hang.

The network fault `reset-after-response=POST|DELETE` delivers each POST/DELETE response whole
and then resets the connection (RST), so the client's pooled connection is dead under its
next request: the idempotency of whatever the client does next (retry or not) is exposed. The
case holds the SDK to: each create and remove either succeeds or raises a typed `BoxliteError`
within a bound (never a hang); a create never yields two boxes for one name; a box the client
was told failed is still findable by name and removable (no leak); a remove leaves no box.
Measured on the stand-in with the PyPI SDK 0.10.8: passes; the SDK opens a new connection
after each reset and never retried a POST (the proxy saw one create per box).

Failing side (matrix row `net:retry-post-after-reset`): the mutant re-sends each create whose
response was reset. The API refuses the duplicate name (409 `already_exists`), so no second
box appears on the stand-in; the re-sent create is in the proxy's request log, and the case
fails on its count of creates. A server without unique names would also fail its
one-box-per-name check.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest

BOXES = 3
BOUND_S = 60.0  # "never a hang", not a performance claim


async def _named(api, name: str) -> list[dict]:
    resp = await api.get("/boxes")
    assert resp.status_code == 200, resp.text
    return [b for b in resp.json().get("boxes", []) if b.get("name") == name]


# Failing side: `retry-post-after-reset` (a mutant: the proxy re-sends each reset create, a
# client retrying a non-idempotent POST) shows as two creates per box in the proxy's log.
@pytest.mark.netfault("reset-after-response=POST|DELETE", "retry-post-after-reset")
@pytest.mark.catches("net:retry-post-after-reset")
async def test_reset_after_create_and_remove_responses(netfault, api, image):
    rt = netfault.rt
    for _ in range(BOXES):
        name = rt.ledger.new_name()
        try:
            box = await asyncio.wait_for(
                rt.create(boxlite.BoxOptions(image=image), name=name), BOUND_S
            )
        except boxlite.BoxliteError as exc:
            box, failed = None, exc
        else:
            failed = None
        on_stack = await _named(api, name)
        assert len(on_stack) <= 1, f"one create, {len(on_stack)} boxes named {name}: {on_stack}"
        if box is None:
            # Told it failed: the box must not be stranded where the client cannot see it.
            found = await asyncio.wait_for(rt.get(name), BOUND_S)
            assert bool(found) == bool(on_stack), (failed, on_stack)
            if found is None:
                continue
            box = found
        else:
            assert on_stack and on_stack[0].get("box_id") == box.id, (box.id, on_stack)
        try:
            await asyncio.wait_for(rt.remove(box.id, force=True), BOUND_S)
        except boxlite.NotFoundError:
            pass  # a retried remove may find the first one already done: still no box
        assert await _named(api, name) == [], f"box {name} still listed after its remove"
    creates = [e for e in netfault.proxy.of_kind("request") if e.method == "POST"]
    creates = [e for e in creates if e.target.rstrip("/").endswith("/boxes")]
    # A re-send the proxy made (the mutant) carries its API answer as a `retry` event.
    answers = [e.status for e in netfault.proxy.of_kind("retry")]
    assert len(creates) == BOXES, (
        f"{len(creates)} create requests for {BOXES} boxes: retried (re-sent answers {answers})"
    )
    if netfault.plan.reset_methods is not None:
        assert netfault.proxy.of_kind("reset"), "the fault never fired"
