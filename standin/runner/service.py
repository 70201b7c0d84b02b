"""The runner's bookkeeping: boxes, their sandboxes and executions, counters, and the faults.

Everything the HTTP routes need lives here as plain async methods raising `ApiError`, so the
routes stay thin and the rules sit in one place:
- create copies the image rootfs into the box (`cp -a --reflink=auto`), so files written in a
  box survive stop/start and stay invisible to other boxes, then starts its sandbox: boxes
  are `running` when create answers (`detach` only says whether a box outlives its client
  runtime, which has no meaning over REST, so it is recorded and otherwise ignored);
- exec on a stopped box is 409 `stopped`, unless the box was created with
  `auto_resume=true`, which starts it first (what the SDK expects of a server);
- exec of a missing binary is refused before spawning with 422 `execution_failed`, which
  the SDK raises as `ExecutionError` (never a 500, the bug `spawn-failed-500` models);
- removing a running box needs `force`, else 409 `invalid_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from standin.errors import ApiError
from standin.faults import ActiveFault
from standin.logfmt import EventLog
from standin.runner.boxes import (
    BoxRecord,
    BoxStore,
    new_box_id,
    now_rfc3339,
    parse_secrets,
    record_from_request,
    secret_env_name,
    str_map,
)
from standin.runner.config import RunnerConfig
from standin.runner.executions import ExecOptions, Execution
from standin.runner.imagesource import ImageDefaults, ImageSource, image_defaults
from standin.runner.rootpath import PathLoop, find_executable, resolve_in_root
from standin.runner.sandbox import Sandbox, SandboxError, SandboxSpec
from standin.runner.users import resolve_user

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# boxlite serve keeps finished executions 5 minutes; the SDK's fallback status probe
# and re-attach after completion need them.
RETAIN_FINISHED = 600.0
SWEEP_INTERVAL = 60.0


@dataclass
class BoxRuntime:
    record: BoxRecord
    rootfs: Path
    defaults: ImageDefaults
    sandbox: Sandbox | None = None
    executions: dict[str, Execution] = field(default_factory=dict)
    main_exec_id: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    watcher: asyncio.Task | None = None
    commands_executed: int = 0
    exec_errors: int = 0
    # Only under fault `secret-value-in-guest`: the values that fault leaks, in memory only.
    leaked_secrets: dict[str, str] = field(default_factory=dict)
    timing: dict[str, int | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.record.id

    # Only under fault `stop-keeps-processes`: reported stopped while the sandbox lives on.
    suspended: bool = False

    @property
    def running(self) -> bool:
        return self.sandbox is not None and self.sandbox.alive() and not self.suspended

    def wire(self) -> dict:
        pid = self.sandbox.init_pid if self.running and self.sandbox else None
        return self.record.wire(pid)


class RunnerService:
    def __init__(self, config: RunnerConfig, log: EventLog):
        self.config = config
        self.log = log
        self.faults: dict[str, ActiveFault] = dict(config.faults)
        self.store = BoxStore(config.state_dir)
        self.images = ImageSource(config.image_dirs, config.state_dir / "images", config.registry)
        self.boxes: dict[str, BoxRuntime] = {}
        self._names: set[str] = set()  # names reserved by creates in flight, too
        self._cpu_cursor = 0
        self.counters = {
            "boxes_created_total": 0,
            "boxes_failed_total": 0,
            "boxes_stopped_total": 0,
            "total_commands_executed": 0,
            "total_exec_errors": 0,
        }
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Adopt boxes recorded by an earlier run. Their inits died with that runner
        (`--die-with-parent`), so every one of them is stopped now."""
        for record in self.store.load_all():
            if record.status != "stopped":
                record.touch("stopped")
                self.store.save(record)
            rootfs = self.store.rootfs(record.id)
            source = Path(record.rootfs_source) if record.rootfs_source else rootfs
            self.boxes[record.id] = BoxRuntime(record, rootfs, image_defaults(source))
            if record.name:
                self._names.add(record.name)
        self._sweeper = asyncio.create_task(self._sweep_loop())

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await asyncio.gather(
            *(self.stop(box, reason="shutdown") for box in list(self.boxes.values())),
            return_exceptions=True,
        )

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            cutoff = time.time() - RETAIN_FINISHED
            for box in self.boxes.values():
                for eid, ex in list(box.executions.items()):
                    if ex.finished and not ex.attached and (ex.finished_at or 0) < cutoff:
                        del box.executions[eid]

    # ------------------------------------------------------------------ lookup

    def lookup(self, id_or_name: str) -> BoxRuntime:
        box = self.boxes.get(id_or_name)
        if box is None:
            box = next((b for b in self.boxes.values() if b.record.name == id_or_name), None)
        if box is None:
            raise ApiError("not_found", f"box not found: {id_or_name}")
        return box

    def label(self, box: BoxRuntime) -> str:
        """How an error names a box: the way its client knows it. A box the API made is
        named with the API's id (`name`), and clients only ever see that id; the runner's
        own `rb...` id is internal. (Found by the Node SDK's first run: `box rb... is
        stopped`.) The fault `error-names-runner-id` restores the internal id."""
        if "error-names-runner-id" in self.faults:
            return box.id
        return box.record.name or box.id

    def execution(self, box: BoxRuntime, execution_id: str) -> Execution:
        ex = box.executions.get(execution_id)
        if ex is None:
            raise ApiError("not_found", f"execution not found: {execution_id}")
        return ex

    # ------------------------------------------------------------------ boxes

    async def create(self, body: object) -> BoxRuntime:
        started = time.monotonic()
        record = record_from_request(body, new_box_id())
        secrets = parse_secrets(body.get("secrets") if isinstance(body, dict) else None)
        if "secrets-dropped" not in self.faults:
            # The guest sees the placeholder; the value would live only in the egress proxy
            # that substitutes it (the stand-in has none), so it is not kept at all.
            record.secrets = {secret_env_name(n): placeholder for n, placeholder, _ in secrets}
        if record.name is not None:
            if record.name in self._names or record.name in self.boxes:
                raise ApiError("already_exists", f"a box named {record.name!r} already exists")
            self._names.add(record.name)
        box_dir = self.store.box_dir(record.id)
        try:
            t0 = time.monotonic()
            template = await self.images.rootfs(record.image, record.rootfs_source)
            record.rootfs_source = str(template)
            t1 = time.monotonic()
            box_dir.mkdir(parents=True)
            rootfs = self.store.rootfs(record.id)
            await _copy_tree(template, rootfs)
            if record.working_dir:
                with contextlib.suppress(OSError, PathLoop):
                    resolve_in_root(rootfs, record.working_dir).mkdir(parents=True, exist_ok=True)
            t2 = time.monotonic()
            box = BoxRuntime(record, rootfs, image_defaults(template))
            if "secret-value-in-guest" in self.faults:
                box.leaked_secrets = {secret_env_name(n): value for n, _, value in secrets}
            self.store.save(record)
            self.boxes[record.id] = box
            await self._start_sandbox(box, first_boot=True)
            t3 = time.monotonic()
        except BaseException:
            self.counters["boxes_failed_total"] += 1
            self._names.discard(record.name or "")
            self.boxes.pop(record.id, None)
            shutil.rmtree(box_dir, ignore_errors=True)
            raise
        box.timing = {
            "total_create_ms": _ms(started, t3),
            "image_prepare_ms": _ms(t0, t1),
            "filesystem_setup_ms": _ms(t1, t2),
            "box_spawn_ms": _ms(t2, t3),
        }
        self.counters["boxes_created_total"] += 1
        self.log.event(
            "box.create",
            box_id=record.id,
            name=record.name,
            image=record.image or record.rootfs_source,
            cpus=record.cpus,
            memory_mib=record.memory_mib,
            network=record.network,
            ms=box.timing["total_create_ms"],
        )
        return box

    def _allocate_cpus(self, count: int) -> tuple[int, ...]:
        """`count` host CPUs (capped at what the runner may use), rotating between boxes so
        single-CPU boxes do not all pile onto CPU 0."""
        host = sorted(os.sched_getaffinity(0))
        count = min(count, len(host))
        start = self._cpu_cursor
        self._cpu_cursor = (self._cpu_cursor + count) % len(host)
        return tuple(sorted(host[(start + i) % len(host)] for i in range(count)))

    async def _start_sandbox(self, box: BoxRuntime, first_boot: bool = False) -> None:
        record = box.record
        binds = []
        for mount in record.volumes:
            host = self.store.volume_dir(mount["volume_id"])
            if "volume-ephemeral" in self.faults:
                # Fault: the mount is backed by the box's own dir, so it dies with the box.
                host = self.store.box_dir(box.id) / "scratch" / mount["volume_id"]
            host.mkdir(parents=True, exist_ok=True)
            binds.append((host, mount["guest_path"]))
        spec = SandboxSpec(
            rootfs=box.rootfs,
            hostname=record.id,
            network=record.network != "disabled",
            cpus=self._allocate_cpus(record.cpus),
            binds=tuple(binds),
            allow_net=tuple(record.allow_net),
            alias_exempt="allow-net-alias-exempt" in self.faults,
            all_caps="default-caps-all" in self.faults,
        )
        sandbox = Sandbox(spec)
        try:
            await sandbox.start()
        except SandboxError as exc:
            record.touch("failed")
            self.store.save(record)
            message = f"box {record.id} failed to start: {exc}"
            raise ApiError("engine_unavailable", message) from None
        box.sandbox = sandbox
        record.touch("running")
        self.store.save(record)
        box.watcher = asyncio.create_task(self._watch_sandbox(box, sandbox))
        await self._replay_main(box, first_boot)

    async def _replay_main(self, box: BoxRuntime, first_boot: bool) -> None:
        record = box.record
        if (record.entrypoint or record.cmd) and "main-command-ignored" not in self.faults:
            if not first_boot and "service-killed-on-resume" in self.faults:
                # Fault: only the first boot runs the declared command; a box started
                # again (by hand or by auto_resume) comes back without its service.
                return
            # A box created with a command runs it as its main process from the start, and
            # again on every later start: a start reboots the box, so the declared command
            # is the one thing the platform replays (what a user's service relies on).
            previous = box.executions.get(box.main_exec_id or "")
            if previous is not None and not previous.finished:
                # Killed by the stop; let it finish so the replay is a new incarnation,
                # never the dying one handed back.
                previous.kill("killed")
                with contextlib.suppress(asyncio.TimeoutError):
                    await previous.wait_finished(timeout=5.0)
            await self.main_session(box)

    async def _watch_sandbox(self, box: BoxRuntime, sandbox: Sandbox) -> None:
        """A box whose init dies without a stop (killed from outside, OOM) is stopped, not a
        `running` record with nothing behind it."""
        await sandbox.wait()
        if box.sandbox is not sandbox or box.lock.locked():
            return  # a stop (or restart) is handling it
        async with box.lock:
            if box.sandbox is not sandbox:
                return
            for ex in box.executions.values():
                ex.kill("killed")
            box.sandbox = None
            box.record.touch("stopped")
            self.store.save(box.record)
        self.counters["boxes_failed_total"] += 1
        self.log.event("box.died", box_id=box.id, name=box.record.name)

    async def start(self, box: BoxRuntime) -> None:
        async with box.lock:
            if box.running:
                return
            if "rootfs-reset-on-start" in self.faults:
                # Fault: the box's disk is thrown away and copied afresh from its image.
                await asyncio.to_thread(shutil.rmtree, box.rootfs, True)
                await _copy_tree(Path(box.record.rootfs_source), box.rootfs)
            if box.suspended and box.sandbox is not None and box.sandbox.alive():
                # Fault `stop-keeps-processes`: the box never went down, so nothing boots;
                # only the declared command is started again (its execution was ended).
                box.suspended = False
                box.record.touch("running")
                self.store.save(box.record)
                await self._replay_main(box, first_boot=False)
            else:
                box.suspended = False
                await self._start_sandbox(box)
        self.log.event("box.start", box_id=box.id, name=box.record.name)

    async def stop(self, box: BoxRuntime, reason: str = "request") -> None:
        async with box.lock:
            was_running = box.running
            for ex in box.executions.values():
                ex.kill("killed")
            keep = "stop-keeps-processes" in self.faults and reason == "request"
            if keep and box.sandbox is not None and box.sandbox.alive():
                # Fault: the executions the runner knows of are ended, the box is not: a
                # process detached from its exec (setsid) keeps running in a "stopped" box.
                box.suspended = True
            elif box.sandbox is not None:
                await box.sandbox.stop()
                box.sandbox = None
                box.suspended = False
            if box.record.status != "stopped":
                box.record.touch("stopped")
                self.store.save(box.record)
        if was_running:
            self.counters["boxes_stopped_total"] += 1
            self.log.event("box.stop", box_id=box.id, name=box.record.name, reason=reason)

    async def remove(self, box: BoxRuntime, force: bool) -> None:
        if box.running and not force:
            raise ApiError(
                "invalid_state",
                f"box {self.label(box)} is running; stop it or remove with force=true",
            )
        await self.stop(box, reason="remove")
        self.boxes.pop(box.id, None)
        self._names.discard(box.record.name or "")
        await asyncio.to_thread(shutil.rmtree, self.store.box_dir(box.id), True)
        self.log.event("box.remove", box_id=box.id, name=box.record.name, force=force)

    async def remove_volume(self, volume_id: str) -> None:
        """Drop a managed volume's bytes; 409 while a box mounts it, 404 if it has none."""
        try:
            path = self.store.volume_dir(volume_id)
        except ValueError:
            raise ApiError("invalid_argument", f"bad volume id {volume_id!r}") from None
        holders = sorted(
            b.id
            for b in self.boxes.values()
            if any(m["volume_id"] == volume_id for m in b.record.volumes)
        )
        if holders:
            raise ApiError(
                "invalid_state", f"volume {volume_id} is mounted by {', '.join(holders)}"
            )
        if not path.exists():
            raise ApiError("not_found", f"volume {volume_id} has no data on this runner")
        await asyncio.to_thread(shutil.rmtree, path)
        self.log.event("volume.remove", volume_id=volume_id)

    async def pull_image(self, body: object) -> dict:
        """`POST /v1/images/pull`: fetch an image into the cache; what the catalog records."""
        doc = body if isinstance(body, dict) else {}
        ref = doc.get("image") or doc.get("reference")
        if not isinstance(ref, str) or not ref.strip():
            raise ApiError("invalid_argument", "image must be a non-empty string")
        ref = ref.strip()
        if ref in self.images.image_dirs:
            return {"reference": ref, "digest": "", "config_digest": "", "layer_count": 1}
        info = await self.images.pull_info(ref)
        self.log.event("image.pull", image=ref, digest=info["digest"])
        return {"reference": ref, **info}

    # ------------------------------------------------------------------ executions

    async def exec(self, box: BoxRuntime, body: object) -> Execution:
        req = _exec_request(body)
        if not box.running:
            if box.record.auto_resume:
                await self.start(box)
            elif "exec-on-stopped-500" in self.faults:
                # Fault (#678): the Go runner mapped Stopped to a bare 500.
                raise ApiError("internal", f"exec failed: box {self.label(box)} is not running")
            else:
                raise ApiError("stopped", f"box {self.label(box)} is stopped; start it before exec")
        try:
            return await self._spawn(box, req, main=False)
        except ApiError:
            box.exec_errors += 1
            self.counters["total_exec_errors"] += 1
            raise

    async def main_session(self, box: BoxRuntime) -> Execution:
        """The box's main process (`/boxes/{id}/attach`): its entrypoint+cmd, else the
        image's command, else `/bin/sh`; started on first use, restarted once finished."""
        current = box.executions.get(box.main_exec_id or "")
        if current is not None and (not current.finished or current.attached):
            return current
        if not box.running:
            # 422, not 409: on a WebSocket upgrade the SDK turns any 409 into
            # AlreadyExistsError, while 422 with code `stopped` gives StoppedError.
            raise ApiError(
                "stopped", f"box {self.label(box)} is stopped; start it before attach", status=422
            )
        argv = [*(box.record.entrypoint or []), *(box.record.cmd or [])]
        argv = argv or box.defaults.args or ["/bin/sh"]
        req = {"command": argv[0], "args": argv[1:], "tty": box.record.tty}
        ex = await self._spawn(box, req, main=True)
        box.main_exec_id = ex.id
        return ex

    def _exec_env(self, box: BoxRuntime, home: str, tty: bool, extra: dict[str, str]) -> dict:
        env = {"PATH": DEFAULT_PATH, "HOME": home, "HOSTNAME": box.id}
        if tty:
            env["TERM"] = "xterm"
        env.update(box.defaults.env)
        env.update(box.record.env)
        env.update(box.record.secrets)
        env.update(box.leaked_secrets)
        env.update(extra)
        return env

    async def _spawn(self, box: BoxRuntime, req: dict, main: bool) -> Execution:
        assert box.sandbox is not None
        command, args = req["command"], req.get("args") or []
        user = resolve_user(box.rootfs, req.get("user") or box.record.user)
        tty = bool(req.get("tty"))
        env = self._exec_env(box, user.home, tty, req.get("env") or {})
        cwd = req.get("working_dir") or box.record.working_dir or box.defaults.cwd or "/"
        if not resolve_in_root(box.rootfs, cwd).is_dir():
            raise ApiError("execution_failed", f"working directory {cwd} does not exist in box")
        if find_executable(box.rootfs, command, env.get("PATH", ""), cwd) is None:
            if "spawn-failed-500" in self.faults:
                # Fault (#1472): the spawn path returned ErrInternal `spawn_failed`.
                raise ApiError("internal", f"spawn_failed: exec {command!r}: no such file")
            raise ApiError(
                "execution_failed", f"cannot run {command!r}: executable file not found in box"
            )
        drop = self.faults.get("exec-stdout-drop")
        fires = bool(drop and drop.fires()) and not main
        options = ExecOptions(
            argv=box.sandbox.enter_argv(
                [command, *args], cwd=cwd, uid=user.uid, gid=user.gid, tty=tty
            ),
            env=env,
            tty=tty,
            timeout=req.get("timeout_seconds"),
            kill_grace=self.config.kill_grace,
            stdout_drop=fires,
        )
        ex = Execution(
            id="ex" + os.urandom(6).hex(),
            box_id=box.id,
            command=command,
            options=options,
            on_finish=lambda done: self._finished(box, done),
        )
        try:
            await ex.start()
        except OSError as exc:
            raise ApiError("execution_failed", f"cannot start {command!r}: {exc}") from None
        box.executions[ex.id] = ex
        box.commands_executed += 1
        box.record.last_activity_at = now_rfc3339()
        self.counters["total_commands_executed"] += 1
        self.log.event(
            "exec",
            box_id=box.id,
            name=box.record.name,
            execution_id=ex.id,
            command=command,
            args=len(args),
            tty=tty,
            timeout=options.timeout,
            main=main or None,
            fault="exec-stdout-drop" if fires else None,
        )
        return ex

    def _finished(self, box: BoxRuntime, ex: Execution) -> None:
        self.log.event(
            "exec.exit",
            box_id=box.id,
            name=box.record.name,
            execution_id=ex.id,
            status=ex.status,
            exit_code=ex.exit_code,
            ms=int(((ex.finished_at or time.time()) - ex.created_at) * 1000),
        )

    # ------------------------------------------------------------------ metrics

    def runtime_metrics(self) -> dict:
        running = sum(1 for b in self.boxes.values() if b.running)
        return {**self.counters, "num_running_boxes": running}

    def box_metrics(self, box: BoxRuntime) -> dict:
        return {
            "commands_executed_total": box.commands_executed,
            "exec_errors_total": box.exec_errors,
            "bytes_sent_total": sum(ex.bytes_in for ex in box.executions.values()),
            "bytes_received_total": sum(ex.bytes_out for ex in box.executions.values()),
            "cpu_percent": None,
            "memory_bytes": _tree_rss(box),
            "network_bytes_sent": None,
            "network_bytes_received": None,
            "network_tcp_connections": None,
            "network_tcp_errors": None,
            "boot_timing": {
                "total_create_ms": box.timing.get("total_create_ms"),
                "guest_boot_ms": None,
                "filesystem_setup_ms": box.timing.get("filesystem_setup_ms"),
                "image_prepare_ms": box.timing.get("image_prepare_ms"),
                "guest_rootfs_ms": None,
                "box_config_ms": None,
                "box_spawn_ms": box.timing.get("box_spawn_ms"),
                "container_init_ms": None,
            },
        }


def _exec_request(body: object) -> dict:
    """Validate an ExecRequest (the SDK's exec body)."""
    if not isinstance(body, dict):
        raise ApiError("invalid_argument", "request body must be a JSON object")
    command = body.get("command")
    if not isinstance(command, str) or not command:
        raise ApiError("invalid_argument", "command must be a non-empty string")
    args = body.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ApiError("invalid_argument", "args must be a list of strings")
    timeout = body.get("timeout_seconds")
    if timeout is not None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise ApiError("invalid_argument", "timeout_seconds must be a non-negative number")
        timeout = float(timeout) or None  # 0 means no timeout
    cwd = body.get("working_dir")
    if cwd is not None and (not isinstance(cwd, str) or not cwd.startswith("/")):
        raise ApiError("invalid_argument", "working_dir must be an absolute path")
    tty = body.get("tty", False)
    if not isinstance(tty, bool):
        raise ApiError("invalid_argument", "tty must be a boolean")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError("invalid_argument", "user must be a string")
    return {
        "command": command,
        "args": args,
        "env": str_map(body.get("env"), "env"),
        "timeout_seconds": timeout,
        "working_dir": cwd,
        "tty": tty,
        "user": user,
    }


async def _copy_tree(src: Path, dst: Path) -> None:
    """`cp -a --reflink=auto`: a box's own rootfs, cheap on CoW filesystems."""
    proc = await asyncio.create_subprocess_exec(
        "cp",
        "-a",
        "--reflink=auto",
        str(src),
        str(dst),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise ApiError("storage_error", f"copying the image rootfs failed: {err.decode().strip()}")


def _tree_rss(box: BoxRuntime) -> int | None:
    pids = []
    if box.running and box.sandbox and box.sandbox.init_pid:
        pids.append(box.sandbox.init_pid)
    pids += [ex.pid for ex in box.executions.values() if ex.pid and not ex.exited]
    if not pids:
        return None
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
    return total


def _ms(start: float, end: float) -> int:
    return int((end - start) * 1000)
