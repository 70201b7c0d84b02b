"""`GET /v1/{prefix}/config` answers the capabilities the SDK negotiates with.

The SDK asks `/v1/config` (the REST protocol's capability negotiation) before it offers
snapshots, clone, export, import or Linux capabilities, and refuses them client-side when
the server does not advertise them; upstream serves it under the org prefix too
(apps/api/src/boxlite-rest/boxlite-config.controller.ts, both route shapes). A prefixed
client that got 404 there would lose every capability the org has. The case pins that both
paths answer, with the same capability set, each flag a boolean.
"""

from __future__ import annotations

from lib.harness.case_helpers import describe


async def test_prefixed_config_matches_the_root_config(api):
    root = await api.request("GET", "/config", prefixed=False)
    scoped = await api.get("/config")
    assert root.status_code == 200, describe(root)
    assert scoped.status_code == 200, describe(scoped)
    caps = scoped.json().get("capabilities")
    assert isinstance(caps, dict) and caps, describe(scoped)
    assert all(isinstance(v, bool) for v in caps.values()), caps
    assert caps == root.json().get("capabilities"), (caps, root.json())
