"""The ordered steps of each stack, running them, and the summary.

Why this exists: `bootstrap.sh` is a thin argument parser; the order of steps, `--only`,
`--dry-run` and the report of what changed live here, in one place that tests can read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from lib.stack.bootstrap import cloud, cloud_data, cloud_sdks, common, rollback, standin
from lib.stack.bootstrap.context import Context, StepError
from lib.stack.health import HealthError
from lib.stack.services import ServiceError
from standin.images import ImageError

Step = Callable[[Context], None]


def summary(ctx: Context) -> None:
    """Record the stack (for fixture_setup and teardown) and say where things are.

    Names files that hold secrets; never prints a secret.
    """
    layout, stack = ctx.layout, ctx.options.stack
    names = [common.API, common.RUNNER, common.REGISTRY]
    if stack == "cloud":
        names += [cloud_data.POSTGRES, cloud_data.REDIS]
    record = {
        "stack": stack,
        "api_url": layout.api_url,
        "runner_url": layout.runner_url,
        "registry": layout.registry,
        "services": ctx.manager.kind,
        "repo": str(ctx.options.repo) if ctx.options.repo else None,
        "faults": standin.active_faults(ctx) if stack == "standin" else [],
        # fixture_setup registers the tools image's snapshot only when it was pushed.
        "tools_image": ctx.facts.get("tools_image_digest"),
        "builds": cloud.load_builds(ctx) if stack == "cloud" else {},
    }
    co = ctx.facts.get("checkout")
    if co is not None:
        # fixture_setup reads the era from here: image catalog or snapshots, quota route.
        record["checkout"] = co.record()
    ctx.write(
        layout.config_dir / "stack.json", json.dumps(record, indent=2) + "\n", "record the stack"
    )
    states = {n: ctx.manager.status(n) for n in names if ctx.manager.status(n) != "absent"}
    listed = ", ".join(f"{n} {s}" for n, s in states.items()) or "no services installed"
    ctx.note(f"stack {stack} ({ctx.manager.kind}): {listed}")
    ctx.note(f"API {layout.api_url}   runner {layout.runner_url}   registry {layout.registry}")
    ctx.note(f"admin key: in {layout.secrets_file} (not printed)")
    logs = f"logs: {layout.api_log}, " + (
        "journal unit boxlite-runner" if ctx.manager.kind == "systemd" else str(layout.runner_log)
    )
    ctx.note(logs)
    if stack == "standin":
        ctx.note(f"faults: {', '.join(record['faults']) or 'none'}")
    for key in ("image_digest", "tools_image_digest", "sdk", "path_prefix"):
        if key in ctx.facts:
            ctx.note(f"{key}: {ctx.facts[key]}")
    ctx.note("next: ./fixture_setup.py (images, quota, org keys, credentials profile p1)")


STEPS: dict[str, list[tuple[str, Step]]] = {
    "standin": [
        ("packages", common.packages),
        ("secrets", common.secrets),
        ("env", common.env),
        ("registry", common.registry),
        ("image", standin.image),
        ("tools-image", standin.tools_image),
        ("services", standin.standin_services),
        ("health", common.check_health),
        ("smoke", common.smoke),
        ("summary", summary),
    ],
    "cloud": [
        ("checkout", cloud.checkout),
        ("packages", common.packages),
        ("kvm", cloud.kvm),
        ("secrets", common.secrets),
        ("env", common.env),
        ("registry", common.registry),
        ("postgres", cloud_data.postgres),
        ("redis", cloud_data.redis),
        ("node", cloud.node),
        ("rust", cloud.rust),
        ("go", cloud.go),
        ("build", cloud.build),
        ("api", cloud.api),
        ("sdk", cloud.sdk),
        ("node_sdk", cloud_sdks.node_sdk),
        ("go_driver", cloud_sdks.go_driver),
        ("services", cloud.cloud_services),
        ("health", common.check_health),
        ("smoke", common.smoke),
        ("summary", summary),
    ],
}


def step_names(stack: str) -> list[str]:
    """The stack's step names, in run order."""
    return [name for name, _ in STEPS[stack]]


@dataclass
class Outcome:
    """What one step did: status, actions taken (or planned), notes, time."""

    name: str
    status: str  # unchanged | changed | would change | failed
    actions: list[str]
    notes: list[str]
    seconds: float


def run(ctx: Context, only: list[str] | None, emit: Callable[[str], None] = print) -> int:
    """Run the stack's steps in order (or the `only` subset, still in order)."""
    steps = [(n, f) for n, f in STEPS[ctx.options.stack] if not only or n in only]
    mode = "dry run: nothing is changed" if ctx.dry_run else ctx.manager.kind
    emit(f"bootstrap: stack {ctx.options.stack}, root {ctx.layout.root}, {mode}")
    started = time.monotonic()
    outcomes: list[Outcome] = []
    before = None if ctx.dry_run else rollback.Snapshot.take(ctx.manager)
    for index, (name, step) in enumerate(steps, 1):
        ctx.actions, ctx.notes = [], []
        t0 = time.monotonic()
        try:
            step(ctx)
            failed = None
        except (StepError, HealthError, ServiceError, ImageError, OSError) as exc:
            failed = str(exc)
        if failed is not None:
            status = "failed"
        elif ctx.actions:
            status = "would change" if ctx.dry_run else "changed"
        else:
            status = "unchanged"
        outcome = Outcome(name, status, list(ctx.actions), list(ctx.notes), time.monotonic() - t0)
        outcomes.append(outcome)
        emit(f"[{index}/{len(steps)}] {name}: {status} ({outcome.seconds:.1f}s)")
        for line in outcome.actions:
            emit(f"    {'would: ' if ctx.dry_run else '+ '}{line}")
        for line in outcome.notes:
            emit(f"    {line}")
        if failed is not None:
            emit(f"bootstrap: step {name} failed:\n{failed}")
            if before is not None:  # leave the host as this invocation found it
                for line in rollback.undo(ctx.manager, before):
                    emit(f"bootstrap: rollback: {line}")
            return 1
    changed = sum(o.status != "unchanged" for o in outcomes)
    verb = "would change" if ctx.dry_run else "changed"
    tail = "no changes" if not changed else f"{changed} step(s) {verb}"
    emit(f"bootstrap: done in {time.monotonic() - started:.1f}s: {tail}")
    if ctx.blockers:
        emit("bootstrap: a real run would stop at: " + "; ".join(ctx.blockers))
        return 1
    return 0
