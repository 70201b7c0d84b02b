"""The image catalog: `/v1/{prefix}/images` (list, usage, get, delete) and how it is written.

Upstream's catalog release (apps/api/src/boxlite-rest/boxlite-image.controller.ts, POL-544;
apps/e2e/cases/test_images_catalog.py) lets an arbitrary image boot a box without prior
registration, and the pull that made it work is what records the image:

- a box created from an image that is not a curated snapshot is pulled by the runner first
  (`POST /v1/images/pull` → digest and size); an image that does not pull is 422
  `image_pull_failed` and records nothing;
- the entry is written once the box is up, keyed by repository (the reference without its
  tag); a second box on the same digest adds no version;
- curated images (the operator's snapshots, `POST /api/snapshots`) never enter an org's
  catalog and spend none of its limit;
- list answers one row per reference `{reference, repository, tag, id: digest, cached_at,
  size_bytes}`; get `{name, tags, curated, versions[]}`; usage `{count, limit, known_bytes}`;
  delete is 204, 404 once gone, 409 `invalid_state` naming a box that still holds it.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from standin.api.context import ApiContext, ctx_of
from standin.api.store import BoxRecord, CatalogImage, ImageVersion, Org, now_rfc3339
from standin.errors import ApiError

LIMIT = 20  # images per org (upstream's default catalog limit is a per-stack setting)


def split_reference(ref: str) -> tuple[str, str]:
    """(repository, tag) of a reference; a digest-pinned one has the digest as its tag."""
    repo, at, digest = ref.partition("@")
    if at:
        return repo, digest
    head, colon, tag = repo.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return repo, "latest"


def record(ctx: ApiContext, org: Org, rec: BoxRecord, pulled: dict) -> None:
    """Write the catalog entry for a box that booted from a non-curated image."""
    name, tag = split_reference(rec.image)
    digest = str(pulled.get("digest") or pulled.get("config_digest") or "")
    entry = ctx.store.catalog.setdefault((org.id, name), CatalogImage(org.id, name))
    if tag not in entry.tags:
        entry.tags.append(tag)
    if not any(v.digest == digest for v in entry.versions):
        entry.versions.append(
            ImageVersion(
                digest=digest,
                size_bytes=int(pulled.get("size_bytes") or 0),
                source_ref=rec.image,
                recorded_at=now_rfc3339(),
            )
        )
    rec.catalog_name = name
    ctx.store.save()
    ctx.log.event("image.record", box_id=rec.id, image=rec.image, digest=digest)


def _entries(ctx: ApiContext, org: Org) -> list[CatalogImage]:
    return [c for (org_id, _), c in sorted(ctx.store.catalog.items()) if org_id == org.id]


def name_of(request: web.Request) -> str:
    """The image name from the raw path: it is sent percent-encoded and may hold `/` and `:`."""
    raw = request.raw_path.split("?", 1)[0]
    return unquote(raw.rsplit("/images/", 1)[1])


async def list_images(request: web.Request, org: Org) -> web.Response:
    rows = []
    for entry in _entries(ctx_of(request), org):
        latest = entry.versions[-1] if entry.versions else None
        for tag in entry.tags:
            rows.append(
                {
                    "reference": f"{entry.name}:{tag}",
                    "repository": entry.name,
                    "tag": tag,
                    "id": latest.digest if latest else "",
                    "cached_at": latest.recorded_at if latest else now_rfc3339(),
                    "size_bytes": latest.size_bytes if latest else 0,
                }
            )
    return web.json_response({"images": rows})


async def usage(request: web.Request, org: Org) -> web.Response:
    entries = _entries(ctx_of(request), org)
    known = sum(v.size_bytes for e in entries for v in e.versions)
    return web.json_response({"count": len(entries), "limit": LIMIT, "known_bytes": known})


def _entry(ctx: ApiContext, org: Org, name: str) -> CatalogImage:
    entry = ctx.store.catalog.get((org.id, name))
    if entry is None:
        raise ApiError("not_found", f"image not found: {name}")
    return entry


async def get_image(request: web.Request, org: Org) -> web.Response:
    entry = _entry(ctx_of(request), org, name_of(request))
    return web.json_response(
        {
            "name": entry.name,
            "tags": list(entry.tags),
            "curated": False,
            "versions": [
                {
                    "digest": v.digest,
                    "size_bytes": v.size_bytes,
                    "source_ref": v.source_ref,
                    "recorded_at": v.recorded_at,
                }
                for v in entry.versions
            ],
        }
    )


async def remove_image(request: web.Request, org: Org) -> web.Response:
    ctx = ctx_of(request)
    entry = _entry(ctx, org, name_of(request))
    holders = sorted(
        b.id
        for b in ctx.store.boxes.values()
        if b.org_id == org.id and b.catalog_name == entry.name
    )
    if holders:
        raise ApiError(
            "invalid_state", f"image {entry.name} is still used by box {', '.join(holders)}"
        )
    del ctx.store.catalog[(org.id, entry.name)]
    ctx.store.save()
    ctx.log.event("image.remove", image=entry.name)
    return web.Response(status=204)
