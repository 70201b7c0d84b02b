"""Start-up reconciliation of the API's box records with the runner's boxes.

An API restart must lose no box the runner still runs. Records are persisted (`store`), but the
two sides can disagree after a crash: a create interrupted between the runner's answer and the
record update, a runner box deleted while the API was down, or a lost state file. The runner
knows each API-created box by `name = <API box id>`, which is enough to repair all three:

- ok        record and runner box agree;
- relinked  the record had no (or a stale) runner id, a runner box carries its API id as name;
- adopted   a runner box named like one of this org's API ids (`bx` + the org tag + 8 hex,
            `store.new_box_id`) has no record: recreated from the runner's Box (the user's
            own name is lost; logged). Other orgs' boxes on a shared runner are left alone;
- dropped   the record's runner box is gone: the record goes, like upstream's destroyed boxes.

Every discrepancy is logged at level=warning, one line per box, and summarised; readiness
(`/api/health/ready`) stays 503 until this has run.
"""

from __future__ import annotations

import asyncio
import re

from standin.api.context import ApiContext
from standin.api.runner_client import RunnerUnavailable
from standin.api.store import BoxRecord, Store, now_rfc3339, org_tag

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


def reconcile(store: Store, runner_boxes: list[dict], record_ids: set[str]) -> dict[str, list[str]]:
    """Repair `store` against the runner's boxes; only `record_ids` (loaded at start) count.

    Records created after start-up are skipped: their runner create may still be in flight.
    """
    by_id = {b.get("box_id"): b for b in runner_boxes if isinstance(b, dict)}
    by_name = {b.get("name"): b for b in runner_boxes if isinstance(b, dict) and b.get("name")}
    report: dict[str, list[str]] = {"ok": [], "relinked": [], "adopted": [], "dropped": []}
    for rec in [store.boxes[i] for i in sorted(record_ids) if i in store.boxes]:
        runner_box = by_id.get(rec.runner_id) if rec.runner_id else None
        if runner_box is not None and runner_box.get("name") in (rec.id, None):
            report["ok"].append(rec.id)
        elif rec.id in by_name:
            rec.runner_id = by_name[rec.id]["box_id"]
            rec.status = by_name[rec.id].get("status") or rec.status
            report["relinked"].append(rec.id)
        else:
            del store.boxes[rec.id]
            report["dropped"].append(rec.id)
    ours = re.compile(rf"^bx{org_tag(store.admin_org_id)}[0-9a-f]{{8}}$")
    for name, runner_box in by_name.items():
        if ours.match(name) and name not in store.boxes:
            store.boxes[name] = _adopt(store, name, runner_box)
            report["adopted"].append(name)
    store.save()
    return report


def _adopt(store: Store, box_id: str, runner_box: dict) -> BoxRecord:
    now = now_rfc3339()
    image = runner_box.get("image") or ""
    return BoxRecord(
        id=box_id,
        org_id=store.admin_org_id,
        name=None,
        image=image,
        runner_image=image,
        cpus=int(runner_box.get("cpus") or 1),
        memory_mib=int(runner_box.get("memory_mib") or 512),
        disk_size_gb=None,
        created_at=runner_box.get("created_at") or now,
        updated_at=now,
        status=runner_box.get("status") or "unknown",
        runner_id=runner_box.get("box_id"),
    )


async def reconcile_at_startup(ctx: ApiContext) -> None:
    """Retry until the runner answers (it may start after the API), then reconcile once."""
    record_ids = set(ctx.store.boxes)
    delay = RETRY_FIRST_S
    while True:
        try:
            runner_boxes = await ctx.client.list_boxes()
            break
        except RunnerUnavailable as exc:
            ctx.reconcile.error = f"runner unreachable: {exc}"
            ctx.log.event("reconcile.waiting", reason=str(exc))
            await asyncio.sleep(delay)  # backoff between attempts, not a readiness wait
            delay = min(delay * 2, RETRY_MAX_S)
    report = reconcile(ctx.store, runner_boxes, record_ids)
    for kind in ("relinked", "adopted", "dropped"):
        for box_id in report[kind]:
            ctx.log.event(f"reconcile.{kind}", level="warning", box_id=box_id)
    ctx.log.event("reconcile.done", **{k: len(v) for k, v in report.items()})
    ctx.reconcile.summary = report
    ctx.reconcile.error = None
    ctx.reconcile.done = True
