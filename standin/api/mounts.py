"""Managed volumes as a box create names them, resolved to what the runner mounts.

Shared by the volume routes (`volumes.py`) and box create (`boxes.py`): a volume is named by
id or name within the caller's org; an unknown one is 404 `not_found`.
"""

from __future__ import annotations

from standin.api.context import ApiContext
from standin.api.store import Org, VolumeRecord
from standin.errors import ApiError


def resolve(ctx: ApiContext, org: Org, ident: str) -> VolumeRecord:
    vol = ctx.store.find_volume(org.id, ident)
    if vol is None:
        raise ApiError("not_found", f"volume not found: {ident}")
    return vol


def runner_mounts(ctx: ApiContext, org: Org, specs: list) -> tuple[list[dict], list[str]]:
    """A create's `volumes[]` (shape already checked) as runner mounts, plus the volume ids."""
    mounts, ids = [], []
    for spec in specs:
        vol = resolve(ctx, org, spec["managed_volume"])
        mounts.append({"volume_id": vol.id, "guest_path": spec["guest_path"]})
        ids.append(vol.id)
    return mounts, ids
