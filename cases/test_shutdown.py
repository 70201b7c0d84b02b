"""Runtime shutdown over REST: `close()` is idempotent and boxes outlive the client.

Ported from upstream's runtime-shutdown checks (in its lifecycle and
CLI detach cases). Over REST a runtime is only a client: closing it must not take the boxes
down, and a fresh runtime (a new process, a reconnecting service) must see and drive the
same boxes. Over REST, `close()` and `shutdown()` send no request at all, so the
server side of this contract is "nothing happens", which is exactly what is asserted.

The second runtime is built with `boxlite.Boxlite.rest`, which inside cases returns a
tracked runtime (lib.harness.runtime), so its boxes are owned and removed like any other.
"""

from __future__ import annotations

import boxlite

from lib.harness.case_helpers import sh


def _runtime(e2e_config):
    options = boxlite.BoxliteRestOptions(
        url=e2e_config.api_url,
        credential=boxlite.ApiKeyCredential(e2e_config.api_key),
        path_prefix=e2e_config.prefix or None,
    )
    return boxlite.Boxlite.rest(options)


async def test_close_is_idempotent_and_boxes_outlive_the_client(e2e_config, image):
    first = _runtime(e2e_config)
    box = await first.create(boxlite.BoxOptions(image=image))
    marker = await sh(box, "echo made-by-first > /root/owner && cat /root/owner")
    assert marker.stdout == "made-by-first\n", marker

    assert first.close() is None
    assert first.close() is None  # a second close is a no-op, not an error

    second = _runtime(e2e_config)
    try:
        seen = await second.get(box.id)
        assert seen is not None, "a box disappeared when the runtime that made it closed"
        assert box.id in {i.id for i in await second.list_info()}
        out = await sh(seen, "cat /root/owner")
        assert (out.exit_code, out.stdout) == (0, "made-by-first\n"), out
    finally:
        await second.remove(box.id, force=True)
        second.close()


async def test_second_runtime_sees_the_session_runtimes_boxes(box, e2e_config):
    other = _runtime(e2e_config)
    try:
        info = await other.get_info(box.id)
        assert info is not None and info.id == box.id
        assert info.state.status == "running"
    finally:
        other.close()
