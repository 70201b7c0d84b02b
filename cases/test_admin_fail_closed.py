"""Internal and admin surfaces fail closed for an org API key, and say nothing inside.

Port of upstream's apps/e2e/cases/test_pol257_admin_fail_closed.py (POL-257 257-14): the old
admin box listing is not exposed (404), the runners' feed wants runner auth (401 for an API
key), and the infrastructure listings behind a disabled feature flag refuse with 403, the
same for `/runners` and `/regions` (POL-331 found `/regions` answering 500 because its list
endpoint lacked the flag guard). No refusal may carry a stack trace or an internal path.
Without a key at all every one of them is 401. The stand-in's `admin-open` fault opens
`/runners`.
"""

from __future__ import annotations

import httpx
import pytest

from lib.harness.case_helpers import describe

NOT_EXPOSED = ("/admin/box", "/admin/box/list")
FLAGGED = ("/runners", "/regions")
LEAK_NEEDLES = ("/var/lib/boxlite", ".ts:", ".rs:", '.py"', "node_modules", "Traceback")


def _clean(resp: httpx.Response) -> None:
    for needle in LEAK_NEEDLES:
        assert needle not in resp.text, f"the refusal leaks internals ({needle}): {describe(resp)}"


@pytest.mark.parametrize("path", NOT_EXPOSED)
async def test_the_admin_box_listing_is_not_exposed(rest, path):
    async with rest.client() as client:
        resp = await client.get(path)
    assert resp.status_code == 404, describe(resp)
    _clean(resp)


async def test_the_runner_feed_wants_runner_auth(rest):
    async with rest.client() as client:
        resp = await client.get("/box/for-runner")
    assert resp.status_code == 401, describe(resp)
    _clean(resp)


# Fault admin-open opens /runners only (the listing that hands out the runner's address);
# /regions stays shut under it, so only the /runners parameter is pinned to the fault.
@pytest.mark.parametrize(
    "path",
    [pytest.param("/runners", marks=pytest.mark.catches("admin-open")), "/regions"],
)
async def test_flagged_infrastructure_listings_are_403(rest, path):
    async with rest.client() as client:
        resp = await client.get(path)
    assert resp.status_code == 403, describe(resp)
    _clean(resp)


@pytest.mark.parametrize("path", (*FLAGGED, "/box/for-runner", "/v1/me"))
async def test_no_key_is_401_everywhere(rest, path):
    async with httpx.AsyncClient(base_url=rest.base_url) as anonymous:
        resp = await anonymous.get(path)
    assert resp.status_code == 401, describe(resp)
    _clean(resp)
