"""Bootstrap steps of the stand-in stack: its image in the registry, its API and runner.

The stand-in runs from this checkout (`python -m standin ...`), so "building" it is nothing;
but a changed checkout must not keep serving old code, so each service's config carries a
fingerprint of the stand-in's sources and of its env file: any change rewrites the config
and restarts exactly the services affected.

Faults: `--fault NAME[=P]` (repeatable, comma lists, `none` clears) replaces the persisted
set; without `--fault` the last bootstrap's faults stay. Each side gets only its own faults
(the API refuses runner faults).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from lib.names import REGISTRY_SERVICE, REPO_ROOT
from lib.stack.bootstrap.common import API, RUNNER, fingerprint, port_conflict
from lib.stack.bootstrap.context import Context
from lib.stack.services import Service
from standin import faults as faults_mod
from standin import images, toolsimage

# The stand-in's auto_stop floor (upstream: 60 s). Short enough that a lifecycle case's
# stop-then-delete takes seconds; the harness bounds (300/600 s) stay far above it.
STANDIN_LIFECYCLE_FLOOR_S = 2


def faults_file(ctx: Context) -> Path:
    """Where the last bootstrap recorded the stand-in's faults (reused when no `--fault` is
    given)."""
    return ctx.layout.config_dir / "standin-faults.json"


def active_faults(ctx: Context) -> list[str]:
    """The faults this run applies, normalised to `NAME` / `NAME=P` (sorted)."""
    if ctx.options.faults is None:
        try:
            return json.loads(faults_file(ctx).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
    parsed = faults_mod.parse_faults(ctx.options.faults)  # FaultError: bad name/probability
    return sorted(
        name if f.probability >= 1.0 else f"{name}={f.probability:g}" for name, f in parsed.items()
    )


def sourcefingerprint() -> str:
    """Hash of the stand-in's Python sources: what the running processes were started from."""
    return fingerprint(sorted((REPO_ROOT / "standin").rglob("*.py")))


def services(ctx: Context, faults: list[str]) -> list[Service]:
    """The stand-in runner and API services with the faults split by side; a new source or env
    fingerprint restarts them."""
    layout = ctx.layout
    by_side = {
        side: [f"--fault={f}" for f in faults if faults_mod.SPECS[f.split("=")[0]].side == side]
        for side in ("api", "runner")
    }
    build = sourcefingerprint()
    runner_argv = [
        ctx.python,
        "-m",
        "standin",
        "runner",
        "--host",
        "127.0.0.1",
        "--port",
        str(layout.runner_port),
        "--state-dir",
        str(layout.standin_runner_state),
        "--registry",
        layout.registry,
        "--env-file",
        str(layout.runner_env_file),
    ]
    if ctx.manager.kind != "systemd":  # under systemd the runner's log is its journal
        runner_argv += ["--log-file", str(layout.runner_log)]
    api_argv = [
        ctx.python,
        "-m",
        "standin",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(layout.api_port),
        "--runner-url",
        layout.runner_url,
        "--state-dir",
        str(layout.standin_api_state),
        "--env-file",
        str(layout.env_file),
        "--log-file",
        str(layout.api_log),
        # Stand-in only: lifecycle cases pin auto_stop/auto_delete with windows of seconds,
        # not upstream's 60 s floor; the API reports the floor it runs with.
        "--lifecycle-floor",
        str(STANDIN_LIFECYCLE_FLOOR_S),
    ]
    common = {"PYTHONUNBUFFERED": "1", "BOXLITE_E2E_BUILD": build}
    return [
        Service(
            RUNNER,
            (*runner_argv, *by_side["runner"]),
            "BoxLite e2e stand-in runner (bubblewrap boxes)",
            env=common | {"BOXLITE_E2E_ENV": fingerprint([layout.runner_env_file])},
            workdir=REPO_ROOT,
            log_file=None if ctx.manager.kind == "systemd" else layout.runner_log,
            after=(REGISTRY_SERVICE,),
        ),
        Service(
            API,
            (*api_argv, *by_side["api"]),
            "BoxLite e2e stand-in API",
            env=common | {"BOXLITE_E2E_ENV": fingerprint([layout.env_file])},
            workdir=REPO_ROOT,
            log_file=layout.api_log,
            after=(RUNNER,),
        ),
    ]


def image(ctx: Context) -> None:
    """Build the stand-in image (reproducibly) and push it unless the registry has it."""
    registry = ctx.layout.registry
    if ctx.dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            digest = images.build(Path(tmp) / "layout")  # a scratch build changes nothing
        try:
            there = images.registry_digest(images.IMAGE_REF, registry, timeout=10)
        except images.ImageError as exc:
            there = None
            ctx.note(f"registry not reachable now ({exc})")
        if there != digest:
            ctx.actions.append(f"would push {images.IMAGE_REF} {digest} to {registry}")
        return
    digest, pushed = images.build_push(registry)
    if pushed:
        ctx.change(f"pushed {registry}/{images.IMAGE_REF} {digest}")
    else:
        ctx.note(f"{images.IMAGE_REF} {digest[:19]} already in {registry}")
    ctx.facts["image_digest"] = digest


def tools_image(ctx: Context) -> None:
    """The e2e/tools image (mmdebstrap): built once into the stack's data dir, then pushed.

    The build takes minutes (mostly package downloads), so its layout is cached under
    `Layout.standin_image_cache`; later bootstraps only push it when the registry lacks it.
    """
    if os.environ.get("BOXLITE_E2E_TOOLS_IMAGE", "1") == "0":
        ctx.note(f"{toolsimage.IMAGE_REF}: skipped (BOXLITE_E2E_TOOLS_IMAGE=0)")
        return
    registry, cache = ctx.layout.registry, ctx.layout.standin_image_cache
    cached = (cache / f"tools-{toolsimage.cache_key()}" / "layout" / "index.json").exists()
    if ctx.dry_run:
        ctx.actions.append(
            f"would push {toolsimage.IMAGE_REF} to {registry}"
            + ("" if cached else f" after building it (mmdebstrap) into {cache}")
        )
        return
    digest, pushed, seconds = toolsimage.build_push(registry, cache)
    if seconds:
        ctx.change(f"built {toolsimage.IMAGE_REF} in {seconds:.0f}s (cached in {cache})")
    if pushed:
        ctx.change(f"pushed {registry}/{toolsimage.IMAGE_REF} {digest}")
    else:
        ctx.note(f"{toolsimage.IMAGE_REF} {digest[:19]} already in {registry}")
    ctx.facts["tools_image_digest"] = digest


def standin_services(ctx: Context) -> None:
    """Install/refresh the stand-in API and runner services; restart what changed."""
    faults = active_faults(ctx)
    for d in (ctx.layout.standin_runner_state, ctx.layout.standin_api_state, ctx.layout.log_dir):
        if not d.is_dir() and ctx.change(f"create {d}"):
            d.mkdir(parents=True)
    ctx.write(faults_file(ctx), json.dumps(faults) + "\n", "record the stand-in faults")
    port_conflict(ctx, ctx.layout.runner_port, RUNNER)
    port_conflict(ctx, ctx.layout.api_port, API)
    ctx.sync_services(services(ctx, faults))
