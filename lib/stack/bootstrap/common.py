"""Bootstrap steps both stacks share: packages, registry, secrets, env files, health, smoke.

Each step is a function `step(ctx)` that inspects first and changes only what differs, through
the context (so `--dry-run` shows the same plan a real run executes). Each is small enough to
read and to test on its own (history: docs/history.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import psutil

from lib.names import API_SERVICE, REGISTRY_SERVICE, RUNNER_SERVICE
from lib.stack import envfile, health
from lib.stack.bootstrap.context import Context
from lib.stack.services import Service
from standin import registry as registry_cfg

API, RUNNER, REGISTRY = API_SERVICE, RUNNER_SERVICE, REGISTRY_SERVICE

STANDIN_PACKAGES = [
    "bubblewrap",
    "busybox-static",
    "docker-registry",
    "skopeo",
    "umoci",
    "slirp4netns",
    "iptables",
    "mmdebstrap",
    "debian-archive-keyring",  # mmdebstrap of bookworm on an Ubuntu host (CI)
]
CLOUD_PACKAGES = [
    "docker-registry",
    "skopeo",
    "postgresql",
    "redis-server",
    "build-essential",
    "pkg-config",
    "meson",
    "ninja-build",
    "git",
    "curl",
    "ca-certificates",
    "gnupg",
    "python3-venv",
    "libssl-dev",
    "protobuf-compiler",
    # What upstream's scripts/setup/setup-ubuntu.sh installs to build boxlite-c, the guest
    # (static musl) and libkrunfw's kernel (issue 13 B1).
    "musl-tools",
    "llvm",
    "libclang-dev",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "python3-pyelftools",
    "libcap-dev",
    "patchelf",
    "file",
]


def fingerprint(paths: list[Path]) -> str:
    """Short hash of files' names and contents. Put into a service's config, it makes a
    change of code or env file rewrite the config, and so restart exactly that service."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


def packages(ctx: Context) -> None:
    """Debian/Ubuntu packages the stack needs (supervisor only where systemd is not PID 1)."""
    wanted = list(STANDIN_PACKAGES if ctx.options.stack == "standin" else CLOUD_PACKAGES)
    if ctx.manager.kind == "supervisor":
        wanted.append("supervisor")
    missing = [p for p in wanted if not _dpkg_installed(ctx, p)]
    if not missing:
        ctx.note(f"{len(wanted)} packages present")
        return
    apt = ["apt-get"]
    ctx.run([*apt, "update", "-qq"], "refresh package lists")
    # RUNLEVEL=1 keeps post-install scripts from starting services on non-systemd hosts:
    # the harness starts its own registry/Postgres/Redis, on loopback and its own ports.
    ctx.run(
        [
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "RUNLEVEL=1",
            *apt,
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *missing,
        ],
        "install missing packages",
    )


def _dpkg_installed(ctx: Context, package: str) -> bool:
    done = ctx.probe(["dpkg-query", "-W", "-f=${Status}", package])
    return done.returncode == 0 and "install ok installed" in done.stdout


def secrets(ctx: Context) -> None:
    """Mint missing secrets once (0600); reuse the rest. Only key names are ever reported."""
    values = ctx.secrets()
    if not ctx.actions:
        ctx.note(f"{len(values)} keys kept in {ctx.layout.secrets_file} (0600)")


def env(ctx: Context) -> None:
    """Regenerate the API and runner env files (0600) from the layout and the secrets."""
    values = ctx.secrets()
    stack, layout = ctx.options.stack, ctx.layout
    for path, content in (
        (layout.env_file, envfile.api_env(stack, layout, values)),
        (layout.runner_env_file, envfile.runner_env(stack, layout, values)),
    ):
        ctx.write(path, envfile.render(content), "regenerate env file", mode=0o600)


def port_conflict(ctx: Context, port: int, service: str) -> None:
    """Fail clearly when a port is held by something other than our own running service."""
    if ctx.manager.status(service) in ("running", "starting"):
        return
    for conn in psutil.net_connections("inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            who = f"pid {conn.pid}" if conn.pid else "another process"
            try:
                who += f" ({psutil.Process(conn.pid).name()})" if conn.pid else ""
            except psutil.Error:
                pass
            ctx.fail(
                f"port {port} for {service} is already in use by {who}; stop it or pick "
                "another port (BOXLITE_E2E_*_PORT, see lib/layout.py)"
            )
            return


def registry_service(ctx: Context) -> Service:
    """The local OCI registry (Debian's docker-registry) as a service."""
    config = ctx.layout.config_dir / "registry.yml"
    return Service(
        REGISTRY,
        (shutil.which("docker-registry") or registry_cfg.REGISTRY_BIN, "serve", str(config)),
        "BoxLite e2e OCI registry (Debian docker-registry, loopback only)",
        workdir=ctx.layout.registry_dir,
        log_file=ctx.layout.log_dir / f"{REGISTRY}.log",
    )


DISTRO_REGISTRY_UNIT = "docker-registry.service"


def disable_distro_registry(ctx: Context) -> None:
    """Debian's own `docker-registry` unit is enabled by the package: held off at install
    (policy-rc.d), it still starts at the next boot on *:5000 and takes the port from ours
    (issue 13 M7). Disable it (and stop it) where systemd runs the host."""
    if ctx.manager.kind != "systemd":
        return
    state = ctx.probe(["systemctl", "is-enabled", DISTRO_REGISTRY_UNIT]).stdout.strip()
    active = ctx.probe(["systemctl", "is-active", DISTRO_REGISTRY_UNIT]).stdout.strip()
    if state in ("enabled", "enabled-runtime") or active == "active":
        ctx.run(
            ["systemctl", "disable", "--now", DISTRO_REGISTRY_UNIT],
            "disable Debian's docker-registry unit (it would take the port at boot)",
        )


def registry(ctx: Context) -> None:
    """Debian's docker-registry on 127.0.0.1 under the state dir; healthy when /v2/ is 200."""
    disable_distro_registry(ctx)
    layout = ctx.layout
    config = layout.config_dir / "registry.yml"
    ctx.write(
        config,
        registry_cfg.render_config(layout.registry_port, layout.registry_dir),
        "registry config",
    )
    if not (layout.registry_dir / "data").is_dir() and ctx.change(
        f"create {layout.registry_dir / 'data'}"
    ):
        (layout.registry_dir / "data").mkdir(parents=True)
    port_conflict(ctx, layout.registry_port, REGISTRY)
    ctx.sync_services([registry_service(ctx)])
    if not ctx.dry_run:
        health.wait_http(
            REGISTRY,
            registry_cfg.health_url(layout.registry_port),
            deadline=30,
            log=health.LogRef(path=layout.log_dir / f"{REGISTRY}.log"),
            alive=lambda: ctx.manager.status(REGISTRY) in ("running", "starting"),
        )
        ctx.note(f"healthy at {registry_cfg.health_url(layout.registry_port)}")


def _log(ctx: Context, name: str) -> health.LogRef:
    if name == RUNNER and ctx.manager.kind == "systemd":
        return health.LogRef(unit=RUNNER)
    return health.LogRef(path=ctx.layout.api_log if name == API else ctx.layout.runner_log)


def _alive(ctx: Context, name: str):
    return lambda: ctx.manager.status(name) in ("running", "starting")


def check_health(ctx: Context) -> None:
    """API answers /api/health, the runner answers, and the API sees the runner."""
    if ctx.dry_run:
        ctx.note(
            "would probe /api/health, the runner, /api/health/ready (health-check key)"
            + (
                " and the default runner in /api/admin/runners"
                if ctx.options.stack == "cloud"
                else ""
            )
        )
        return
    layout, values = ctx.layout, ctx.secrets()
    deadline = 60 if ctx.options.stack == "standin" else 180  # ts-node compiles on start
    health.wait_http(
        API,
        f"{layout.api_url}/health",
        deadline=deadline,
        log=_log(ctx, API),
        alive=_alive(ctx, API),
    )
    runner_auth = {"Authorization": f"Bearer {values['DEFAULT_RUNNER_API_KEY']}"}
    if ctx.options.stack == "standin":
        # An authenticated 200 proves it is *our* runner and that it accepts our token.
        url, ok = f"{layout.runner_url}/v1/config", lambda r: r.status_code == 200
    else:
        url, ok = f"{layout.runner_url}/", lambda r: r.status_code < 500
    health.wait_http(
        RUNNER,
        url,
        deadline=60,
        headers=runner_auth,
        ok=ok,
        log=_log(ctx, RUNNER),
        alive=_alive(ctx, RUNNER),
    )
    health.wait_api_ready(
        layout.api_url,
        health_key=values["HEALTH_CHECK_API_KEY"],
        admin_key=values["ADMIN_API_KEY"],
        stack=ctx.options.stack,
        deadline=120,
        log=_log(ctx, API),
        alive=_alive(ctx, API),
    )
    ctx.note("API, runner and API->runner healthy")


WIPE_HINT = (
    "the admin key in {secrets} is not the one the API's database knows: the secrets file "
    "was re-minted (or deleted) while the database kept the old admin user. Run "
    "`./teardown.sh --wipe-data` and bootstrap again (this drops the stack's data)."
)


SSH_HINT = (
    "the API's env file {env} has no SSH_GATEWAY_API_KEY: the API-key strategy of this era "
    "calls getOrThrow('sshGateway.apiKey') first, so every API-key request is 401. Re-run "
    "bootstrap (it writes the key); the data is fine, do not wipe it."
)


def auth_hint(layout) -> str:
    """Why an API key was refused: a missing SSH gateway key (upstream api-key.strategy.ts
    getOrThrow) is ruled out before the advice to wipe data (issue 13 B6)."""
    try:
        has_ssh = "SSH_GATEWAY_API_KEY" in envfile.load(layout.env_file)
    except OSError:
        has_ssh = False
    if not has_ssh:
        return SSH_HINT.format(env=layout.env_file)
    return WIPE_HINT.format(secrets=layout.secrets_file)


def smoke(ctx: Context) -> None:
    """Authenticated GET /api/v1/me must return a principal (`sub`)."""
    if ctx.dry_run:
        ctx.note("would GET /api/v1/me with the admin key")
        return
    url = f"{ctx.layout.api_url}/v1/me"
    key = ctx.secrets()["ADMIN_API_KEY"]
    try:
        resp = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=15)
    except httpx.HTTPError as exc:
        ctx.fail(f"GET {url} failed: {exc}")
        return
    if resp.status_code in (401, 403):
        ctx.fail(f"GET {url} answered {resp.status_code}: " + auth_hint(ctx.layout))
        return
    try:
        body = resp.json()
    except json.JSONDecodeError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or "sub" not in body:
        ctx.fail(f"GET {url} answered {resp.status_code} without a principal: {resp.text[:300]}")
        return
    prefix = body.get("path_prefix", body.get("prefix"))
    ctx.facts["path_prefix"] = prefix
    ctx.note(f"/v1/me ok: sub={body['sub']} path_prefix={prefix}")
