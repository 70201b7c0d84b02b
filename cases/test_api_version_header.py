"""Every API answer carries `X-BoxLite-Api-Version`: the proof a request crossed the API.

Upstream's own path check (scripts/test/e2e/cases/test_path_verification.py,
`test_exec_roundtrip_proves_api_to_runner_chain`) reads this header on a raw create to tell
an answer of the NestJS API from one of a runner reached directly; the deployed API sends it
on every response (`x-boxlite-api-version: 0.1.0` on dev). The cases check it on the answers
a client meets: a create, a read, a proxied exec, and the errors (401, 404) where a missing
header would hide which layer refused.
"""

from __future__ import annotations

import httpx

from lib.harness.case_helpers import describe

HEADER = "X-BoxLite-Api-Version"


def _version(response: httpx.Response) -> str:
    value = response.headers.get(HEADER)
    assert value, f"{HEADER} missing: {describe(response)} headers={sorted(response.headers)}"
    return value


async def test_create_read_and_exec_answers_carry_the_version(api, image):
    created = await api.create_box({"image": image})
    assert created.status_code == 201, describe(created)
    version = _version(created)
    box_id = created.json()["box_id"]
    read = await api.get(f"/boxes/{box_id}")
    assert read.status_code == 200 and _version(read) == version, describe(read)
    # Proxied to the runner: the API's stamp, not the runner's headers, is what comes back.
    ex = await api.post(f"/boxes/{box_id}/exec", json={"command": "true"})
    assert ex.status_code in (200, 201), describe(ex)
    assert _version(ex) == version
    gone = await api.delete(f"/boxes/{box_id}", params={"force": "true"})
    assert gone.status_code == 204 and _version(gone) == version, describe(gone)


async def test_error_answers_carry_the_version_too(api, rest):
    missing = await api.get("/boxes/bx-e2e-no-such-box")
    assert missing.status_code == 404, describe(missing)
    _version(missing)
    async with httpx.AsyncClient(base_url=rest.base_url) as anonymous:
        denied = await anonymous.get(rest.v1("/boxes"))
    assert denied.status_code == 401, describe(denied)
    _version(denied)
