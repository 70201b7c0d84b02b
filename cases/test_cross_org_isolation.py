"""Cross-org isolation: another organization's key never reaches this org's boxes.

Pins boxlite-ai/boxlite#1428 (upstream's cross-org isolation cases): with org B's own key,
a box of org A must be invisible through B's prefix (the box lookup is scoped to the
caller's org, so a foreign id answers exactly like a nonexistent one: 404, same body
shape, no existence oracle), and B's key on A's prefix must be refused. The second org and
its key come from fixture setup (`second_org`, least privilege: neither is the admin key);
without them these cases are not applicable, and say so. The stand-in's `cross-org-lookup`
fault resolves box ids in every org, the regression #1428 guards against.
"""

from __future__ import annotations

import secrets

import pytest
import pytest_asyncio

from lib.harness.api import ApiClient
from lib.harness.case_helpers import describe


@pytest_asyncio.fixture(loop_scope="session")
async def org_b(second_org):
    async with ApiClient(second_org.api_url, second_org.api_key, second_org.prefix) as client:
        yield client


def _shape(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {"<not json>": "str"}
    return {k: type(v).__name__ for k, v in body.items()} if isinstance(body, dict) else {}


@pytest.mark.catches("cross-org-lookup")
async def test_a_foreign_box_reads_like_a_nonexistent_one(org_b, box):
    real = await org_b.get(f"/boxes/{box.id}")
    fake = await org_b.get(f"/boxes/bx{secrets.token_hex(6)}")
    assert real.status_code == 404, f"org B read org A's box: {describe(real)}"
    assert fake.status_code == 404, describe(fake)
    assert _shape(real) == _shape(fake), (real.text, fake.text)


@pytest.mark.catches("cross-org-lookup")
async def test_a_foreign_box_cannot_be_stopped_or_removed(org_b, api, box):
    stop = await org_b.post(f"/boxes/{box.id}/stop")
    assert stop.status_code == 404, f"org B stopped org A's box: {describe(stop)}"
    gone = await org_b.delete(f"/boxes/{box.id}", params={"force": "true"})
    assert gone.status_code == 404, f"org B removed org A's box: {describe(gone)}"
    mine = await api.get(f"/boxes/{box.id}")
    assert mine.status_code == 200, describe(mine)
    assert mine.json().get("status") == "running", mine.json()


@pytest.mark.catches("cross-org-lookup")
async def test_a_foreign_box_cannot_be_execed(org_b, box):
    resp = await org_b.post(f"/boxes/{box.id}/exec", json={"command": "true"})
    assert resp.status_code == 404, f"org B exec'd in org A's box: {describe(resp)}"


async def test_the_other_orgs_list_excludes_it(org_b, box):
    resp = await org_b.get("/boxes")
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    items = body.get("boxes", body.get("items", [])) if isinstance(body, dict) else body
    ids = {b.get("box_id", b.get("id")) for b in items if isinstance(b, dict)}
    assert box.id not in ids


async def test_the_other_orgs_key_on_this_orgs_prefix_is_refused(second_org, e2e_config, box):
    async with ApiClient(second_org.api_url, second_org.api_key, e2e_config.prefix) as as_b:
        resp = await as_b.get(f"/boxes/{box.id}")
    assert resp.status_code in (403, 404), f"org B used org A's prefix: {describe(resp)}"
