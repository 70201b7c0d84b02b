"""Stand-in API: organizations, org-scoped API keys and the health-check key.

Pins the contract lib/stack/fixture_setup.py drives on both stacks (upstream
api-key.controller.ts, create-api-key.dto.ts, create-organization.dto.ts,
health.controller.ts): cases run with a minted org key, never the admin key, and a second
org's key must not reach the first org's boxes.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from standin.api.keys import KEYS_FILE, ORG_HEADER
from tests.standin.api_fixtures import in_process_api

pytestmark = pytest.mark.asyncio
HEALTH = "health-check-key-for-tests"
BOX_PERMS = ["write:boxes", "delete:boxes"]


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def _json(resp: aiohttp.ClientResponse):
    return resp.status, await resp.json(content_type=None)


async def _mint(api, session, org: str | None, perms=BOX_PERMS, key=None, name="cases"):
    headers = api.headers(key) if key else api.headers()
    if org:
        headers[ORG_HEADER] = org
    body = {"name": name, "permissions": perms}
    async with session.post(f"{api.url}/api-keys", json=body, headers=headers) as resp:
        return await _json(resp)


async def _new_org(api, session) -> str:
    body = {"name": "e2e-second", "defaultRegionId": "us"}
    async with session.post(f"{api.url}/organizations", json=body, headers=api.headers()) as r:
        status, doc = await _json(r)
    assert status == 201, doc
    return doc["id"]


async def test_minted_key_is_scoped_to_its_org(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        status, minted = await _mint(api, session, api.org_id)
        assert status == 201 and minted["value"].startswith("blk_"), minted
        assert minted["permissions"] == BOX_PERMS and minted["name"] == "cases"
        key = minted["value"]
        async with session.get(f"{api.url}/v1/me", headers=api.headers(key)) as r:
            me = await r.json()
        assert me["path_prefix"] == api.org_id
        async with session.get(api.box_url(), headers=api.headers(key)) as r:
            assert r.status == 200
        second = await _new_org(api, session)
        status, other = await _mint(api, session, second, name="second")
        assert status == 201, other
        async with session.get(f"{api.url}/v1/me", headers=api.headers(other["value"])) as r:
            assert (await r.json())["path_prefix"] == second
        # The second org's key cannot address the first org's boxes, nor mint keys there.
        async with session.get(api.box_url(), headers=api.headers(other["value"])) as r:
            status, body = await _json(r)
        assert status == 403 and body["error"]["code"] == "permission_denied"
        status, body = await _mint(api, session, api.org_id, key=other["value"], name="x")
        assert status == 403, body
        # An org key on an admin route that exists is refused by the role guard; on an admin
        # path no controller serves (POL-257's old `/admin/box` listing) it is a plain 404.
        quota = f"{api.url}/admin/organizations/{api.org_id}/quota"
        async with session.get(quota, headers=api.headers(key)) as r:
            assert r.status == 403
        for gone in ("/admin/box", "/admin/box/list"):
            async with session.get(api.url + gone, headers=api.headers(key)) as r:
                assert r.status == 404, gone
        # Only the hash is kept on disk.
        text = (tmp_path / "api-state" / KEYS_FILE).read_text()
        assert key not in text and other["value"] not in text
        assert len(json.loads(text)["keys"]) == 2


async def test_permissions_are_checked(tmp_path, session) -> None:
    async with in_process_api(tmp_path) as api:
        status, body = await _mint(api, session, None, perms=["write:everything"])
        assert status == 400 and "write:everything" in json.dumps(body)
        status, reader = await _mint(api, session, None, perms=["read:volumes"], name="ro")
        assert status == 201
        async with session.post(
            api.box_url(), json={"image": "x"}, headers=api.headers(reader["value"])
        ) as r:
            status, body = await _json(r)
        assert status == 403 and "write:boxes" in body["error"]["message"]
        # A key cannot grant more than it holds.
        status, body = await _mint(
            api, session, None, perms=BOX_PERMS, key=reader["value"], name="more"
        )
        assert status == 403 and "write:boxes" in json.dumps(body)
        status, body = await _mint(api, session, None, name="ro")
        assert status == 409
        async with session.post(
            f"{api.url}/organizations", json={"name": "x"}, headers=api.headers()
        ) as r:
            assert r.status == 400


async def test_health_key_opens_readiness_only(tmp_path, session) -> None:
    async with in_process_api(tmp_path, health_key=HEALTH) as api:
        ready = f"{api.url}/health/ready"
        async with session.get(ready, headers=api.headers()) as r:
            assert r.status == 403  # the admin key is not a health-check key
        async with session.get(ready, headers=api.headers(HEALTH)) as r:
            assert r.status in (200, 503)  # admitted; 503 only until reconcile ran
        async with session.get(f"{api.url}/v1/me", headers=api.headers(HEALTH)) as r:
            assert r.status == 403
        async with session.get(ready, headers=api.headers("wrong")) as r:
            assert r.status == 401
