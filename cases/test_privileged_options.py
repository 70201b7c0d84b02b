"""Privileged and security options on the REST path are refused, never silently dropped.

Upstream's apps/e2e/cases/test_privileged_options.py pins PR 646's Docker-style privileged
mode on a server that implements it. The cloud API does not: `CreateBoxDto` declares
`advanced` only to refuse it ("advanced options are not supported for cloud boxes",
apps/api/src/boxlite-rest/dto/create-box.dto.ts), and the 0.10.8 SDK refuses
`advanced.security` and `advanced.capabilities` client-side unless the server advertises
them in `/v1/config`. What must never happen is a box created with the caller believing it
is hardened (or privileged) when the option went nowhere. The privileged probe itself needs
an SDK with `AdvancedBoxOptions(privileged=...)` and a server that implements it: not
applicable with SDK 0.10.8.
"""

from __future__ import annotations

from importlib import metadata

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, describe, refused


async def test_sdk_refuses_security_options_it_cannot_deliver(rt, image):
    advanced = boxlite.AdvancedBoxOptions(security=boxlite.SecurityOptions.maximum())
    with pytest.raises(boxlite.BoxliteError) as info:
        made = await rt.create(boxlite.BoxOptions(image=image, advanced=advanced))
        await rt.remove(made.id, force=True)
    assert_typed(info.value, boxlite.UnsupportedError)


async def test_sdk_refuses_capabilities_the_server_does_not_advertise(rt, image, api):
    config = await api.get("/config")
    caps = config.json().get("capabilities", {})
    if caps.get("linux_capabilities_enabled"):
        pytest.skip("not applicable: this server advertises Linux capabilities")
    advanced = boxlite.AdvancedBoxOptions(
        capabilities=boxlite.ContainerCapabilities(add=["NET_ADMIN"])
    )
    with pytest.raises(boxlite.BoxliteError) as info:
        made = await rt.create(boxlite.BoxOptions(image=image, advanced=advanced))
        await rt.remove(made.id, force=True)
    assert_typed(info.value, boxlite.UnsupportedError)


@pytest.mark.parametrize(
    "advanced",
    [{"privileged": True}, {"capabilities": {"add": ["ALL"]}}, {"security": {}}],
    ids=["privileged", "cap-add-all", "security"],
)
async def test_raw_advanced_options_are_400(api, image, advanced):
    resp = await api.create_box({"image": image, "advanced": advanced})
    await refused(api, resp, statuses=[400])
    assert "advanced" in resp.text.lower(), describe(resp)


async def test_the_privileged_shape_needs_a_newer_sdk():
    if "privileged" not in dir(boxlite.AdvancedBoxOptions):
        sdk = metadata.version("boxlite")
        pytest.skip(f"not applicable: boxlite {sdk} has no AdvancedBoxOptions(privileged=...)")
    pytest.fail("this SDK has privileged=: port upstream's privileged probe here")
