"""Bootstrap steps for the cloud stack's data services: its own Postgres and Redis.

Why a harness-owned instance of each, not the system ones: a second stack must be able to run
beside the first, teardown must be able to drop exactly this stack's data, and the host's own
clusters (which Debian's packages start on 5432/6379) are never touched. So each lives under
the layout's state dir, listens on 127.0.0.1 at its own port (15432/16379 by default), and
runs as a service (`boxlite-postgres`, `boxlite-redis`) under its package's system user.

The DB role's password is a minted secret; SQL that carries it goes over stdin, so it never
appears in a process list. Redis has no password: loopback-only binding is what keeps it
private (history: docs/history.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
from pathlib import Path

from lib.stack import health
from lib.stack.bootstrap.common import port_conflict
from lib.stack.bootstrap.context import Context
from lib.stack.services import Service

POSTGRES, REDIS = "boxlite-postgres", "boxlite-redis"
DB_NAME, DB_ROLE = "boxlite_dev", "boxlite"


# --- Postgres ------------------------------------------------------------------------------


def _pg_bin(ctx: Context) -> Path | None:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _traversable_by(path: Path, user: str) -> Path | None:
    """First ancestor of `path` that `user` cannot enter (None when all are fine)."""
    uid = pwd.getpwnam(user).pw_uid
    for parent in [*reversed(path.parents)]:
        if not parent.exists():
            break
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return parent
    return None


def _own_dir(ctx: Context, path: Path, user: str) -> None:
    info = pwd.getpwnam(user)
    ok = path.is_dir() and path.stat().st_uid == info.pw_uid
    if not ok and ctx.change(f"create {path} owned by {user} (0700)"):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, info.pw_uid, info.pw_gid)
        path.chmod(0o700)


def pg_socket_dir(layout) -> Path:
    """The cluster's socket dir: under its own state dir, not /run, which is a tmpfs that a
    reboot empties while the unit still names the directory (issue 13 m2)."""
    return layout.postgres_dir / "socket"


def postgres_service(ctx: Context, bindir: Path) -> Service:
    """The harness-owned Postgres cluster as a service: loopback only, its socket under the
    cluster's own state dir (pg_socket_dir)."""
    layout = ctx.layout
    return Service(
        POSTGRES,
        (
            str(bindir / "postgres"),
            "-D",
            str(layout.postgres_dir / "data"),
            "-p",
            str(layout.postgres_port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={pg_socket_dir(layout)}",
        ),
        "BoxLite e2e Postgres (harness-owned cluster, loopback only)",
        user="postgres",
        workdir=layout.postgres_dir,
        log_file=layout.log_dir / f"{POSTGRES}.log",
    )


def _psql_argv(ctx: Context, *options: str) -> list[str]:
    """psql as the cluster's superuser, over its unix socket, on database `postgres`."""
    sock = pg_socket_dir(ctx.layout)
    return ["runuser", "-u", "postgres", "--", "psql", *options,
            "-h", str(sock), "-p", str(ctx.layout.postgres_port), "-d", "postgres"]  # fmt: skip


def _psql(ctx: Context, sql: str) -> str:
    done = ctx.probe(_psql_argv(ctx, "-tAc", sql))
    return done.stdout.strip() if done.returncode == 0 else f"ERROR {done.stderr.strip()}"


def postgres(ctx: Context) -> None:
    """Own Postgres cluster under the state dir; role `boxlite` (minted password), db."""
    layout = ctx.layout
    bindir = _pg_bin(ctx)
    if bindir is None:
        ctx.fail("no Postgres server binaries under /usr/lib/postgresql (package postgresql)")
        return
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        ctx.fail("no `postgres` user (the postgresql package creates it)")
        return
    blocked = _traversable_by(layout.postgres_dir, "postgres")
    if blocked is not None:
        ctx.fail(f"user postgres cannot enter {blocked}: make it o+x or use another root")
    data = layout.postgres_dir / "data"
    _own_dir(ctx, layout.postgres_dir, "postgres")
    _own_dir(ctx, pg_socket_dir(layout), "postgres")
    if not (data / "PG_VERSION").is_file():
        ctx.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ],
            "initialise the cluster",
        )
    port_conflict(ctx, layout.postgres_port, POSTGRES)
    ctx.sync_services([postgres_service(ctx, bindir)])
    if ctx.dry_run:
        ctx.actions.append(f"would ensure role {DB_ROLE} and database {DB_NAME}")
        return
    health.wait_until(
        POSTGRES,
        lambda: (
            ctx.probe(
                [
                    str(bindir / "pg_isready"),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(layout.postgres_port),
                ]
            ).returncode
            == 0
        ),
        deadline=60,
        log=health.LogRef(path=layout.log_dir / f"{POSTGRES}.log"),
    )
    password = ctx.secrets()["DB_PASSWORD"]
    if _psql(ctx, f"SELECT 1 FROM pg_roles WHERE rolname='{DB_ROLE}'") != "1":
        # SQL on stdin: the password never appears in a process list.
        _psql_stdin(
            ctx,
            f"CREATE ROLE {DB_ROLE} LOGIN CREATEDB PASSWORD '{password}';",
            f"create role {DB_ROLE}",
        )
    elif not _can_login(ctx, password):
        _psql_stdin(
            ctx,
            f"ALTER ROLE {DB_ROLE} PASSWORD '{password}';",
            f"reset the password of role {DB_ROLE} to the minted one",
        )
    if _psql(ctx, f"SELECT 1 FROM pg_database WHERE datname='{DB_NAME}'") != "1":
        _psql_stdin(ctx, f"CREATE DATABASE {DB_NAME} OWNER {DB_ROLE};", f"create {DB_NAME}")
    if not _can_login(ctx, password):
        ctx.fail(f"role {DB_ROLE} cannot log in to {DB_NAME} on 127.0.0.1:{layout.postgres_port}")
    ctx.note(f"{DB_NAME} on 127.0.0.1:{layout.postgres_port}, role {DB_ROLE} logs in")


def _psql_stdin(ctx: Context, sql: str, why: str) -> None:
    ctx.run(
        _psql_argv(ctx, "-q", "-v", "ON_ERROR_STOP=1"),
        why,
        stdin=sql,
        show=f"psql <<< {why}",
    )


def _can_login(ctx: Context, password: str) -> bool:
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
    done = ctx.probe(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(ctx.layout.postgres_port),
            "-U",
            DB_ROLE,
            "-d",
            DB_NAME,
            "-tAc",
            "SELECT 1",
        ],
        env=env,
    )
    return done.returncode == 0 and done.stdout.strip() == "1"


# --- Redis ---------------------------------------------------------------------------------


def redis_config(ctx: Context) -> str:
    """redis.conf for the harness-owned Redis: loopback only, protected mode, data in the layout."""
    layout = ctx.layout
    return "\n".join(
        [
            "# Written by boxlite-e2e bootstrap; regenerated every run.",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"port {layout.redis_port}",
            "daemonize no",
            'logfile ""',
            f"dir {layout.redis_dir}",
            "appendonly no",
            "save 3600 1",
            "",
        ]
    )


def redis_ping(port: int) -> bool:
    """True when Redis on `port` answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis(ctx: Context) -> None:
    """Own Redis on 127.0.0.1 (no password, like upstream; loopback only)."""
    layout = ctx.layout
    binary = shutil.which("redis-server")
    if binary is None:
        ctx.fail("redis-server is not installed (package redis-server)")
        binary = "/usr/bin/redis-server"
    user = "redis" if _user_exists("redis") else None
    if user:
        _own_dir(ctx, layout.redis_dir, user)
    elif not layout.redis_dir.is_dir() and ctx.change(f"create {layout.redis_dir}"):
        layout.redis_dir.mkdir(parents=True)
    config = layout.config_dir / "redis.conf"
    ctx.write(config, redis_config(ctx), "Redis config")
    port_conflict(ctx, layout.redis_port, REDIS)
    ctx.sync_services(
        [
            Service(
                REDIS,
                (binary, str(config)),
                "BoxLite e2e Redis (loopback)",
                user=user,
                workdir=layout.redis_dir,
                log_file=layout.log_dir / f"{REDIS}.log",
            )
        ]
    )
    if not ctx.dry_run:
        health.wait_until(
            REDIS,
            lambda: redis_ping(layout.redis_port),
            deadline=30,
            log=health.LogRef(path=layout.log_dir / f"{REDIS}.log"),
        )
        ctx.note(f"PONG on 127.0.0.1:{layout.redis_port}")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
