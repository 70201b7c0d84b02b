"""Principals, org-scoped API keys and organizations, modelled on upstream's contract.

Why this exists: the suite must run with the least privilege a BoxLite user has, an API key
minted for one organization, not the admin key (issue 13, deliverable 4), and cross-org
cases need a second organization with its own key. Upstream (read at
`apps/api/src/api-key/api-key.controller.ts`, `dto/create-api-key.dto.ts`,
`dto/api-key-response.dto.ts`, `organization/dto/create-organization.dto.ts`,
`organization-resource-permission.enum.ts`, `common/constants/header.constants.ts`,
`auth/api-key.strategy.ts`, `health/health.controller.ts`):

    POST   /api/organizations   {name, defaultRegionId}                 201 {id, name, ...}
    POST   /api/api-keys        {name, permissions: [...], expiresAt?}  201 {name, value,
           header X-BoxLite-Organization-ID: the org the key is for         createdAt,
                                                                            permissions,
                                                                            expiresAt}
    GET    /api/api-keys        [{name, createdAt, permissions, ...}]    (never the value)
    DELETE /api/api-keys/{name} 204

A bearer token resolves to one principal: the admin key (system admin, its own org), the
health-check key (role `health-check`: only `/api/health/ready` accepts it, and that route
accepts nothing else once the key is configured), or a minted key (its org, its
permissions). A minted key may mint keys for its own org only; an unknown permission is a
400 listing it, like class-validator's `IsIn`. Key values are `blk_` + 48 hex (upstream's
default `API_KEY_PREFIX`); only their SHA-256 is stored, in `api-keys.json` (0600).
Assumption (unverifiable without a real stack): the admin key may name any existing org in
the header, which is how fixture setup mints the second org's key.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiohttp import web

from standin import atomicfile
from standin.api.context import ctx_of
from standin.api.nest import NestError, json_object
from standin.api.store import Org, now_rfc3339

ORG_HEADER = "X-BoxLite-Organization-ID"
KEYS_FILE = "api-keys.json"
KEY_PREFIX = "blk_"
# upstream OrganizationResourcePermission (newest era)
PERMISSIONS = (
    "write:registries",
    "delete:registries",
    "write:templates",
    "delete:templates",
    "write:boxes",
    "delete:boxes",
    "read:volumes",
    "write:volumes",
    "delete:volumes",
    "write:regions",
    "delete:regions",
    "read:runners",
    "write:runners",
    "delete:runners",
    "read:audit_logs",
    "read:images",
    "delete:images",
    "read:registries",
)


@dataclass(frozen=True)
class Principal:
    kind: str  # "admin" | "health-check" | "org-key"
    org_id: str | None
    permissions: tuple[str, ...] = ()
    name: str = ""

    def allows(self, permission: str) -> bool:
        return self.kind == "admin" or permission in self.permissions


@dataclass
class KeyRecord:
    name: str
    org_id: str
    digest: str  # sha256 hex of the value
    permissions: list[str]
    created_at: str
    expires_at: str | None = None
    last_used_at: str | None = field(default=None)

    def public(self) -> dict:
        return {
            "name": self.name,
            "organizationId": self.org_id,
            "createdAt": self.created_at,
            "permissions": self.permissions,
            "expiresAt": self.expires_at,
            "lastUsedAt": self.last_used_at,
        }


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class KeyStore:
    """Minted keys, persisted as hashes next to the API's records."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / KEYS_FILE
        try:
            doc = json.loads(self.path.read_text())
            self.keys = [KeyRecord(**k) for k in doc.get("keys", [])]
        except FileNotFoundError:
            self.keys = []

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"keys": [asdict(k) for k in self.keys]}
        atomicfile.write_private(self.path, json.dumps(doc, indent=2) + "\n")

    def find(self, value: str) -> KeyRecord | None:
        digest = _digest(value)
        for key in self.keys:
            if hmac.compare_digest(key.digest, digest):
                return key
        return None

    def mint(self, org_id: str, name: str, permissions: list[str], expires_at: str | None):
        if any(k.org_id == org_id and k.name == name for k in self.keys):
            raise NestError(409, f"API key with name {name} already exists")
        value = KEY_PREFIX + secrets.token_hex(24)
        record = KeyRecord(name, org_id, _digest(value), permissions, now_rfc3339(), expires_at)
        self.keys.append(record)
        self.save()
        return record, value


def _expired(record: KeyRecord) -> bool:
    if not record.expires_at:
        return False
    try:
        when = _dt.datetime.fromisoformat(record.expires_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    return when <= _dt.datetime.now(_dt.timezone.utc)


def make_resolver(admin_key: str, health_key: str, admin_org: str, store: KeyStore):
    """token -> Principal | None (constant-time comparisons for the configured keys)."""

    def resolve(token: str) -> Principal | None:
        if hmac.compare_digest(token.encode(), admin_key.encode()):
            return Principal("admin", admin_org, name="boxlite-admin")
        if health_key and hmac.compare_digest(token.encode(), health_key.encode()):
            return Principal("health-check", None)
        record = store.find(token)
        if record is None or _expired(record):
            return None
        return Principal("org-key", record.org_id, tuple(record.permissions), record.name)

    return resolve


PRINCIPAL = web.RequestKey("standin_principal", Principal)


def principal_of(request: web.Request) -> Principal:
    found = request.get(PRINCIPAL)
    if not isinstance(found, Principal):  # auth middleware always sets it on private routes
        raise NestError(401, "Unauthorized")
    return found


def caller_org(request: web.Request) -> Org:
    """The organization the caller's key belongs to (health-check keys have none)."""
    principal = principal_of(request)
    org = ctx_of(request).store.orgs.get(principal.org_id or "")
    if org is None:
        raise NestError(403, "This key does not belong to an organization")
    return org


def _target_org(request: web.Request) -> Org:
    principal = principal_of(request)
    wanted = request.headers.get(ORG_HEADER) or principal.org_id
    org = ctx_of(request).store.orgs.get(wanted or "")
    if org is None:
        raise NestError(404, f"Organization with ID {wanted} not found")
    if principal.kind != "admin" and org.id != principal.org_id:
        raise NestError(403, "Forbidden resource")
    return org


async def create_organization(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.kind != "admin":
        raise NestError(403, "Forbidden resource")
    body = await json_object(request)
    problems = [
        f"{k} should not be empty"
        for k in ("name", "defaultRegionId")
        if not isinstance(body.get(k), str) or not body.get(k)
    ]
    if problems:
        raise NestError(400, problems)
    ctx = ctx_of(request)
    org = Org(str(uuid.uuid4()))
    ctx.store.orgs[org.id] = org
    ctx.store.save()
    ctx.log.event("org.create", org_id=org.id)
    dto = {
        "id": org.id,
        "name": body["name"],
        "defaultRegionId": body["defaultRegionId"],
        "createdAt": now_rfc3339(),
        "personal": False,
    }
    return web.json_response(dto, status=201)


async def create_api_key(request: web.Request) -> web.Response:
    org = _target_org(request)
    body = await json_object(request)
    name, perms, expires = body.get("name"), body.get("permissions"), body.get("expiresAt")
    problems = []
    if not isinstance(name, str) or not name:
        problems.append("name should not be empty")
    if not isinstance(perms, list):
        problems.append("permissions must be an array")
    else:
        problems += [
            f"each value in permissions must be one of the following values: "
            f"{', '.join(PERMISSIONS)} (got {p!r})"
            for p in perms
            if p not in PERMISSIONS
        ]
    if expires is not None and not isinstance(expires, str):
        problems.append("expiresAt must be a Date instance")
    if problems:
        raise NestError(400, problems)
    principal = principal_of(request)
    if principal.kind == "org-key":
        extra = [p for p in perms if p not in principal.permissions]
        if extra:
            raise NestError(403, f"Insufficient permissions for assigning: {', '.join(extra)}")
    store: KeyStore = request.app[KEYS]
    record, value = store.mint(org.id, name, list(perms), expires)
    ctx_of(request).log.event("apikey.create", org_id=org.id, name=name)
    out = {k: v for k, v in record.public().items() if k in ("name", "createdAt", "permissions")}
    return web.json_response({**out, "value": value, "expiresAt": record.expires_at}, status=201)


async def list_api_keys(request: web.Request) -> web.Response:
    org = _target_org(request)
    store: KeyStore = request.app[KEYS]
    return web.json_response([k.public() for k in store.keys if k.org_id == org.id])


async def delete_api_key(request: web.Request) -> web.Response:
    org = _target_org(request)
    store: KeyStore = request.app[KEYS]
    name = request.match_info["name"]
    before = len(store.keys)
    store.keys = [k for k in store.keys if not (k.org_id == org.id and k.name == name)]
    if len(store.keys) == before:
        raise NestError(404, f"API key with name {name} not found")
    store.save()
    return web.Response(status=204)


KEYS = web.AppKey("standin_api_keys", KeyStore)


def add_routes(app: web.Application, store: KeyStore) -> None:
    app[KEYS] = store
    app.router.add_post("/api/organizations", create_organization)
    app.router.add_post("/api/api-keys", create_api_key)
    app.router.add_get("/api/api-keys", list_api_keys)
    app.router.add_delete("/api/api-keys/{name}", delete_api_key)
