"""Box lifecycle, isolation, resources and error mapping, through the real SDK and raw HTTP.

The error tests pin the exception class the SDK raises for each wire answer,
because that mapping is exactly what the stand-in exists to get right.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import tarfile
import time
from pathlib import Path

import boxlite
import psutil
import pytest

from tests.standin.runner_fixtures import BUSYBOX_REF, run

pytestmark = pytest.mark.timeout(120)

HOST_NET_DEV = Path("/proc/net/dev")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _net_devices(text: str) -> set[str]:
    return {line.split(":")[0].strip() for line in text.splitlines()[2:] if ":" in line}


async def test_create_answers_201_with_a_running_box_json(runner):
    with runner.http() as http:
        created = http.post(
            "/v1/boxes",
            json={"name": "json-shape", "image": BUSYBOX_REF, "network": {"mode": "enabled"}},
        )
        try:
            assert created.status_code == 201
            box = created.json()
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", box["box_id"])
            assert box["status"] == "running" and box["name"] == "json-shape"
            for key in ("created_at", "updated_at"):
                assert RFC3339.match(box[key]), box[key]
            assert type(box["cpus"]) is int and type(box["memory_mib"]) is int
            assert box["labels"] == {} and box["image"] == BUSYBOX_REF
            stopped = http.post(f"/v1/boxes/{box['box_id']}/stop")
            assert stopped.status_code == 200
            assert stopped.json()["status"] == "stopped"
            assert stopped.json()["box_id"] == box["box_id"]
            started = http.post(f"/v1/boxes/{box['box_id']}/start")
            assert (started.status_code, started.json()["status"]) == (200, "running")
        finally:
            http.delete("/v1/boxes/json-shape", params={"force": "true"})


async def test_get_by_id_and_name_list_and_remove(rt):
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF), name="by-name")
    try:
        assert (await rt.get("by-name")).id == box.id
        info = await rt.get_info(box.id)
        assert info.name == "by-name" and info.state.running
        assert box.id in {i.id for i in await rt.list_info()}
    finally:
        await rt.remove(box.id, force=True)
    assert await rt.get(box.id) is None


async def test_files_are_private_to_a_box_and_survive_stop_start(rt):
    a = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    b = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    try:
        assert (await run(a, "sh", "-c", "echo secret-a > /root/marker")).exit_code == 0
        # Positive control first: the search finds the marker where it exists ...
        found = await run(a, "grep", "-rl", "secret-a", "/root", "/tmp", "/etc")
        assert (found.exit_code, found.stdout) == (0, "/root/marker\n")
        # ... and then finds nothing (grep rc exactly 1) in the other box.
        other = await run(b, "grep", "-rl", "secret-a", "/root", "/tmp", "/etc")
        assert other.exit_code == 1, other
        await a.stop()
        await a.start()
        again = await run(a, "cat", "/root/marker")
        assert (again.stdout, again.exit_code) == ("secret-a\n", 0)
    finally:
        await asyncio.gather(rt.remove(a.id, force=True), rt.remove(b.id, force=True))


async def test_each_box_has_its_own_pid_namespace(box):
    result = await run(box, "sh", "-c", "ps -o pid,args")
    pids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert "1" in pids  # the box's own init, as in a VM
    assert len(pids) < 10, result.stdout  # and none of the host's processes


@pytest.mark.parametrize("cpus", [1, 2, 64])
async def test_nproc_honours_cpus_capped_at_host_cores(rt, cpus):
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF, cpus=cpus))
    try:
        result = await run(box, "nproc")
        assert int(result.stdout) == min(cpus, len(os.sched_getaffinity(0)))
        assert (await box.info()).cpus == cpus
    finally:
        await rt.remove(box.id, force=True)


async def test_network_disabled_leaves_only_loopback(rt):
    host_devices = _net_devices(HOST_NET_DEV.read_text())  # noqa: ASYNC240 - procfs, instant
    enabled = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF))
    disabled = await rt.create(
        boxlite.BoxOptions(image=BUSYBOX_REF, network=boxlite.NetworkSpec(mode="disabled"))
    )
    try:
        seen = _net_devices((await run(enabled, "cat", "/proc/net/dev")).stdout)
        # Positive control: an enabled box has its own link (slirp4netns' tap0), and never
        # the host's interfaces (its own network namespace).
        assert seen == {"lo", "tap0"}, seen
        assert not (seen & (host_devices - {"lo", "tap0"})), (seen, host_devices)
        only = _net_devices((await run(disabled, "cat", "/proc/net/dev")).stdout)
        assert only == {"lo"}
        assert (await disabled.info()).network.outbound.mode == "disabled"
    finally:
        await asyncio.gather(rt.remove(enabled.id, force=True), rt.remove(disabled.id, force=True))


async def test_create_time_user_working_dir_and_env_apply_to_execs(rt):
    box = await rt.create(
        boxlite.BoxOptions(
            image=BUSYBOX_REF,
            user="65534:65534",
            working_dir="/work/dir",
            env=[("BOX_VAR", "from-create")],
        )
    )
    try:
        result = await run(box, "sh", "-c", 'echo "$(id -u):$(id -g):$(pwd):$BOX_VAR"')
        assert result.stdout == "65534:65534:/work/dir:from-create\n"
        override = await run(box, "sh", "-c", 'echo "$BOX_VAR"', env=[("BOX_VAR", "from-exec")])
        assert override.stdout == "from-exec\n"
    finally:
        await rt.remove(box.id, force=True)


async def test_five_boxes_at_once(rt):
    boxes = await asyncio.gather(
        *(rt.create(boxlite.BoxOptions(image=BUSYBOX_REF)) for _ in range(5))
    )
    try:
        assert len({b.id for b in boxes}) == 5
        results = await asyncio.gather(*(run(b, "hostname") for b in boxes))
        assert [r.stdout.strip() for r in results] == [b.id for b in boxes]
    finally:
        await asyncio.gather(*(rt.remove(b.id, force=True) for b in boxes))


async def test_copy_in_and_copy_out_round_trip(box, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "deep.txt").write_text("deep\n")
    (src / "top.txt").write_text("top\n")
    single = tmp_path / "single.txt"
    single.write_bytes(b"\x00binary\xff" * 1000)

    await box.copy_in(str(single), "/tmp/renamed.bin")
    await box.copy_in(str(single), "/root/")  # into an existing directory
    await box.copy_in(str(src), "/opt/tree")  # a new directory takes the source's contents
    listing = await run(
        box, "sh", "-c", "cmp /tmp/renamed.bin /root/single.txt && find /opt/tree | sort"
    )
    assert listing.exit_code == 0, listing
    assert listing.stdout.split() == [
        "/opt/tree",
        "/opt/tree/sub",
        "/opt/tree/sub/deep.txt",
        "/opt/tree/top.txt",
    ]

    out_file = tmp_path / "back.bin"
    await box.copy_out("/tmp/renamed.bin", str(out_file))
    assert out_file.read_bytes() == single.read_bytes()
    out_dir = tmp_path / "back"
    out_dir.mkdir()
    await box.copy_out("/opt/tree", str(out_dir))
    assert (out_dir / "tree" / "sub" / "deep.txt").read_text() == "deep\n"


async def test_copy_out_sends_a_tar_named_after_the_source(runner, box):
    with runner.http() as http:
        response = http.get(f"/v1/boxes/{box.id}/files", params={"path": "/etc/os-release"})
        assert response.status_code == 200
        assert response.headers["x-boxlite-source-is-dir"] == "false"
        missing = http.get(f"/v1/boxes/{box.id}/files", params={"path": "/nope"})
        assert missing.status_code == 404
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        assert tar.getnames() == ["os-release"]
        assert b"ID=boxlite-e2e-busybox" in tar.extractfile("os-release").read()


async def test_metrics_count_creates_and_commands(rt, box):
    before = await box.metrics()
    for _ in range(3):
        await run(box, "true")
    after = await box.metrics()
    assert after.commands_executed_total == before.commands_executed_total + 3
    runtime = await rt.metrics()
    assert runtime.boxes_created_total >= 1
    assert runtime.total_commands_executed >= 3


async def test_log_names_box_id_and_name_for_create_and_exec(runner, rt):
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF), name="api-box-7")
    try:
        await run(box, "true")
    finally:
        await rt.remove(box.id, force=True)
    lines = runner.log_text().splitlines()
    create = [line for line in lines if "event=box.create" in line and f"box_id={box.id}" in line]
    execs = [line for line in lines if " event=exec " in line and f"box_id={box.id}" in line]
    assert len(create) == 1 and "name=api-box-7" in create[0]
    assert len(execs) == 1 and "name=api-box-7" in execs[0]
    assert runner.token not in runner.log_text()


async def test_runner_restart_keeps_boxes_stopped_with_their_files(runner_factory, tmp_path):
    state = tmp_path / "restart-state"
    first = runner_factory(state_dir=state)
    rt = first.sdk()
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF), name="survivor")
    assert (await run(box, "sh", "-c", "echo kept > /root/kept")).exit_code == 0
    assert first.stop() == 0
    second = runner_factory(state_dir=state)
    rt2 = second.sdk()
    info = await rt2.get_info("survivor")
    assert info is not None and info.id == box.id
    assert info.state.status == "stopped"
    again = await rt2.get(box.id)
    with pytest.raises(boxlite.StoppedError):
        await again.exec("true", [])
    await again.start()
    assert (await run(again, "cat", "/root/kept")).stdout == "kept\n"
    await rt2.remove(box.id, force=True)


# --------------------------------------------------------------------------- error mapping


async def test_unknown_box_get_is_none_and_remove_is_not_found(rt):
    assert await rt.get("rbnosuchbox") is None
    with pytest.raises(boxlite.NotFoundError):
        await rt.remove("rbnosuchbox")


async def test_bad_token_is_config_error(runner):
    with pytest.raises(boxlite.ConfigError):
        await runner.sdk(token="wrong-token").list_info()
    with runner.http(token="wrong-token") as http:
        response = http.get("/v1/boxes")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_exec_on_a_stopped_box_is_stopped_error(box):
    await box.stop()
    with pytest.raises(boxlite.StoppedError):
        await box.exec("true", [])


async def test_signal_outside_the_whitelist_is_invalid_argument(box):
    ex = await box.exec("sleep", ["30"])
    with pytest.raises(boxlite.InvalidArgumentError):
        await ex.signal(9)
    await ex.kill()


async def test_removing_a_running_box_without_force_is_invalid_state(rt, box):
    with pytest.raises(boxlite.InvalidStateError):
        await rt.remove(box.id)
    assert (await rt.get_info(box.id)).state.running


async def test_missing_binary_is_execution_error(box):
    with pytest.raises(boxlite.ExecutionError) as caught:
        await box.exec("/nonexistent/binary", [])
    assert "500" not in str(caught.value) and "internal" not in str(caught.value).lower()


async def test_duplicate_name_is_already_exists(rt):
    box = await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF), name="twice")
    try:
        with pytest.raises(boxlite.AlreadyExistsError):
            await rt.create(boxlite.BoxOptions(image=BUSYBOX_REF), name="twice")
    finally:
        await rt.remove(box.id, force=True)


async def test_unknown_image_is_image_error(rt):
    with pytest.raises(boxlite.ImageError):
        await rt.create(boxlite.BoxOptions(image="127.0.0.1:1/no/such:image"))


async def test_invalid_create_fields_are_invalid_argument(runner):
    with runner.http() as http:
        for body in (
            {"image": BUSYBOX_REF, "cpus": 0},
            {"image": BUSYBOX_REF, "cpus": 300},
            {"image": BUSYBOX_REF, "memory_mib": -1},
            {"image": BUSYBOX_REF, "network": {"mode": "sideways"}},
            {"network": {"mode": "enabled"}},
        ):
            response = http.post("/v1/boxes", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == "invalid_argument"
        unknown_route = http.get("/v1/nothing-here")
        assert unknown_route.status_code == 404
        assert unknown_route.json()["error"]["code"] == "not_found"


def _host_has(path: str) -> bool:
    return Path(path).exists()


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, data: bytes = b"x", **attrs) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(info, key, value)
    if info.isfile():
        info.size = len(data)
        return info, data
    return info, None


@pytest.mark.parametrize(
    "members",
    [
        [_member("../evil")],
        [_member("/abs")],
        [
            _member("d", type=tarfile.DIRTYPE, mode=0o755),
            _member("d/link", type=tarfile.SYMTYPE, linkname="/"),
            _member("d/link/tmp/written-through"),
        ],
    ],
    ids=["dotdot", "absolute", "through-symlink"],
)
async def test_copy_in_refuses_archives_that_escape(runner, box, members):
    with runner.http() as http:
        response = http.put(
            f"/v1/boxes/{box.id}/files",
            params={"path": "/tmp/upload", "source_is_dir": "true"},
            content=_tar(*members),
            headers={"Content-Type": "application/x-tar"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_argument"
    leftovers = await run(box, "sh", "-c", "ls /tmp/written-through /evil /abs 2>&1; true")
    assert "No such file" in leftovers.stdout
    assert not _host_has("/tmp/written-through")  # and nothing landed on the host either


async def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Bounded wait for a pid to disappear."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:  # reaped between polls (the old check raced here)
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def test_a_killed_runner_leaves_no_box_processes(runner_factory):
    crashing = runner_factory()
    box = await crashing.sdk().create(boxlite.BoxOptions(image=BUSYBOX_REF))
    pid = (await box.info()).state.pid
    assert pid and psutil.pid_exists(pid)
    crashing.proc.kill()  # SIGKILL: no shutdown code runs, only --die-with-parent
    crashing.proc.wait(10)
    assert await _gone(pid)


async def test_a_box_whose_init_dies_becomes_stopped(rt, box):
    pid = (await box.info()).state.pid
    os.kill(pid, signal.SIGKILL)
    assert await _gone(pid)
    deadline = time.monotonic() + 10
    while (await rt.get_info(box.id)).state.status != "stopped":
        assert time.monotonic() < deadline, "box still reported running"
        await asyncio.sleep(0.05)
    with pytest.raises(boxlite.StoppedError):
        await box.exec("true", [])
    with pytest.raises(boxlite.StoppedError):
        await box.attach()
    await box.start()
    assert (await run(box, "echo", "back")).stdout == "back\n"
