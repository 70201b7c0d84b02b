"""Exec on a removed box is a typed 404 `not_found`, never a 500.

Issue 14 of this harness names the bug class from upstream's lifecycle cases: a box id that
was removed reaches the exec path and fails there (500 internal) instead of in the lookup,
so the SDK raises an untyped InternalError where callers handle NotFoundError. Both the SDK
handle and a raw exec are checked, since a client may hold either. The stand-in's
`exec-on-removed-box` fault reproduces it.
"""

from __future__ import annotations

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, describe, error_code


@pytest.mark.catches("exec-on-removed-box")
async def test_sdk_exec_on_a_removed_box_is_not_found(rt, image):
    made = await rt.create(boxlite.BoxOptions(image=image))
    await rt.remove(made.id, force=True)
    with pytest.raises(boxlite.BoxliteError) as info:
        await made.exec("echo", ["never"])
    assert_typed(info.value, boxlite.NotFoundError)


@pytest.mark.catches("exec-on-removed-box")
async def test_raw_exec_on_a_removed_box_is_404(api, image):
    created = await api.create_box({"image": image})
    assert created.status_code == 201, describe(created)
    box_id = created.json()["box_id"]
    gone = await api.delete(f"/boxes/{box_id}", params={"force": "true"})
    assert gone.status_code == 204, describe(gone)
    resp = await api.post(f"/boxes/{box_id}/exec", json={"command": "echo", "args": ["x"]})
    assert (resp.status_code, error_code(resp)) == (404, "not_found"), describe(resp)


async def test_exec_on_a_box_that_never_existed_is_404(api):
    """Counter-pin: the unknown-id path the fault leaves alone answers the same."""
    resp = await api.post("/boxes/bx-e2e-never-existed/exec", json={"command": "true"})
    assert (resp.status_code, error_code(resp)) == (404, "not_found"), describe(resp)
