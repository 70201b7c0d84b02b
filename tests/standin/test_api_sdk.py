"""The stand-in API end to end: the real SDK -> `python -m standin api` -> a real runner.

Each claim of the API is checked the way production uses it: `Boxlite.rest(url=.../api,
path_prefix=<org>)` with a multi-segment org prefix, against real processes, with both hops'
logs read afterwards. Runner processes come from tests/standin/conftest.py (`runner`,
`runner_token`); API processes from api_fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path

import boxlite
import pytest

from tests.standin.api_fixtures import (
    ADMIN_KEY,
    ApiProcess,
    api_process,
    fixture_setup,
    wait_for_log,
    wait_ready,
)
from tests.standin.runner_fixtures import BUSYBOX_REF, drain, run

pytestmark = pytest.mark.timeout(180)
IMG = BUSYBOX_REF
MIB = 1024 * 1024


def unique_org() -> str:
    # Multi-segment on purpose; unique so APIs sharing the session runner never adopt each
    # other's boxes (box ids carry an org tag, see standin.api.store).
    return f"org-{secrets.token_hex(3)}/team-a"


def new_api(state: Path, runner, runner_token: str, org: str | None = None, faults=()):
    return api_process(
        state,
        runner_url=runner.url,
        runner_key=runner_token,
        org_id=org or unique_org(),
        faults=list(faults),
    )


@pytest.fixture(scope="module")
def api(runner, runner_token, tmp_path_factory) -> ApiProcess:
    """One clean API (no faults) for the module, set up like fixture setup leaves a stack."""
    with new_api(tmp_path_factory.mktemp("api") / "state", runner, runner_token) as proc:
        wait_ready(proc)
        fixture_setup(proc, IMG)
        yield proc


def assert_no_secrets(api: ApiProcess, runner, runner_token: str, *extra: str) -> None:
    for text in (api.log_text(), runner.log_text()):
        for secret in (ADMIN_KEY, runner_token, *extra):
            assert secret not in text


async def test_round_trip_multi_segment_prefix(api, runner, runner_token, tmp_path) -> None:
    assert api.url.endswith("/api") and api.org_id.count("/") == 1
    rt = api.sdk()
    name = f"rt-{secrets.token_hex(3)}"
    box = await rt.create(boxlite.BoxOptions(image=IMG, cpus=2, memory_mib=256), name=name)
    try:
        info = await box.info()
        assert (info.id, info.name, info.image, info.cpus, info.memory_mib) == (
            box.id,
            name,
            IMG,
            2,
            256,
        )
        res = await run(box, "sh", "-c", "echo hello; echo oops >&2; exit 3")
        assert (res.stdout, res.stderr, res.exit_code) == ("hello\n", "oops\n", 3)
        # Files both ways through the proxy.
        src = tmp_path / "in.txt"
        src.write_text("through the api\n" * 1000)
        await box.copy_in(str(src), "/tmp/in.txt")
        assert (await run(box, "wc", "-c", "/tmp/in.txt")).stdout.split()[0] == "16000"
        await box.copy_out("/tmp/in.txt", str(tmp_path / "out"))
        copied = tmp_path / "out"
        copied = copied / "in.txt" if copied.is_dir() else copied
        assert copied.read_text() == src.read_text()
        assert box.id in [b.id for b in await rt.list_info()]
        assert (await rt.get(name)).id == box.id
        await box.stop()
        assert (await box.info()).state.status == "stopped"
        assert isinstance(await box.metrics(), boxlite.BoxMetrics)
    finally:
        await rt.remove(box.id, force=True)
    assert await rt.get(box.id) is None
    # Both hops name the box: the API by its id, the runner by name=<API id>.
    prefix_path = f"/api/v1/{api.org_id}/boxes"
    api_log = await wait_for_log(api.log_path, f"method=DELETE path={prefix_path}/{box.id}")
    assert f"method=POST path={prefix_path} status=201 box_id={box.id}" in api_log
    assert f"path={prefix_path}/{box.id}/exec status=201 box_id={box.id}" in api_log
    runner_lines = [ln for ln in runner.log_text().splitlines() if f"name={box.id}" in ln]
    assert any("event=box.create " in ln for ln in runner_lines), runner_lines
    assert any("event=exec " in ln for ln in runner_lines), runner_lines
    assert_no_secrets(api, runner, runner_token)


async def test_auth_failures_are_config_errors(api, runner, runner_token) -> None:
    for key in ("a-wrong-admin-key", ""):
        rt = api.sdk(key=key)
        with pytest.raises(boxlite.ConfigError, match="401"):
            await rt.list_info()
        with pytest.raises(boxlite.ConfigError):
            await rt.create(boxlite.BoxOptions(image=IMG))
    # The runner's token is not an API key either.
    with pytest.raises(boxlite.ConfigError):
        await api.sdk(key=runner_token).list_info()
    # A prefix that is not the caller's org: refused, not an empty list.
    with pytest.raises(boxlite.ConfigError, match="not an organization"):
        await api.sdk(prefix="org-999/team-z").list_info()
    # No prefix at all is the caller's own org (upstream mounts v1/boxes beside v1/:prefix/boxes).
    assert await api.sdk(prefix="").list_info() == await api.sdk().list_info()
    assert_no_secrets(api, runner, runner_token, "a-wrong-admin-key")


@pytest.mark.parametrize(
    ("opts", "error"),
    [
        ({"cpus": 0}, boxlite.InvalidArgumentError),
        ({"memory_mib": 64}, boxlite.InvalidArgumentError),
        ({"cpus": 8}, boxlite.ResourceExhaustedError),
        ({"memory_mib": 64 * 1024}, boxlite.ResourceExhaustedError),
        ({"disk_size_gb": 500}, boxlite.ResourceExhaustedError),
        ({"image": "e2e/unregistered:1"}, boxlite.ImageError),
    ],
)
async def test_validation_and_quota_errors_map_to_sdk_classes(api, opts, error) -> None:
    rt = api.sdk()
    before = {b.id for b in await rt.list_info()}
    with pytest.raises(error):
        await rt.create(boxlite.BoxOptions(**{"image": IMG, **opts}))
    assert {b.id for b in await rt.list_info()} == before  # nothing created behind the error


async def test_duplicate_name_is_already_exists(api) -> None:
    rt = api.sdk()
    name = f"dup-{secrets.token_hex(3)}"
    box = await rt.create(boxlite.BoxOptions(image=IMG), name=name)
    try:
        with pytest.raises(boxlite.AlreadyExistsError):
            await rt.create(boxlite.BoxOptions(image=IMG), name=name)
    finally:
        await rt.remove(box.id, force=True)


@pytest.mark.parametrize(
    ("fault", "opts", "field", "used"),
    [
        ("quota-clamp", {"cpus": 8}, "cpus", 4),
        ("quota-clamp", {"memory_mib": 64 * 1024}, "memory_mib", 8192),
        ("validation-coerce", {"cpus": 0}, "cpus", 1),
    ],
)
async def test_api_faults_two_sided(
    api, runner, runner_token, tmp_path, fault, opts, field, used
) -> None:
    options = boxlite.BoxOptions(image=IMG, **opts)
    # Off: the clean API refuses with a typed error.
    with pytest.raises((boxlite.InvalidArgumentError, boxlite.ResourceExhaustedError)):
        await api.sdk().create(options)
    # On: the same create is silently accepted with a different size.
    with new_api(tmp_path / "state", runner, runner_token, faults=[fault]) as faulty:
        wait_ready(faulty)
        fixture_setup(faulty, IMG)
        rt = faulty.sdk()
        with faulty.http() as http:
            reported = http.get("/v1/_standin/faults").json()
        assert reported["stack"] == "standin"
        assert [(f["name"], f["component"]) for f in reported["faults"]] == [(fault, "api")]
        box = await rt.create(options)
        try:
            assert getattr(await box.info(), field) == used
        finally:
            await rt.remove(box.id, force=True)
        log = faulty.log_text()
        assert f"event=fault name={fault} box_id={box.id} field={field}" in log


async def test_attach_carries_a_mebibyte_byte_exact(api) -> None:
    rt = api.sdk()
    box = await rt.create(boxlite.BoxOptions(image=IMG))
    try:
        # 1 MiB of ASCII (the SDK decodes each frame as UTF-8), deterministic, no repeats
        # at frame boundaries that could hide a dropped or duplicated chunk.
        payload = "".join(f"{i:07d}\n" for i in range(MIB // 8))
        assert len(payload) == MIB
        execution = await box.exec("cat", [])
        draining = asyncio.create_task(drain(execution, timeout=120))
        stdin = execution.stdin()
        data = payload.encode()
        for start in range(0, len(data), 64 * 1024):
            await stdin.send_input(data[start : start + 64 * 1024])
        await stdin.close()
        result = await draining
        assert result.exit_code == 0, result
        assert result.stdout == payload
        # The other direction alone: a generated MiB out of the box.
        out = await run(
            box,
            "sh",
            "-c",
            "i=0; while [ $i -lt 131072 ]; do printf '%07d\\n' $i; i=$((i+1)); done",
            timeout=120,
        )
        assert out.stdout == payload
    finally:
        await rt.remove(box.id, force=True)


async def test_attach_rejections_keep_their_sdk_class(api) -> None:
    rt = api.sdk()
    box = await rt.create(
        boxlite.BoxOptions(image=IMG, cmd=["sh", "-c", "echo main-out; sleep 60"])
    )
    try:
        # Main session: the runner's X-Boxlite-Execution-Id must survive the proxy.
        main = await box.attach(stdin=False)
        first = await asyncio.wait_for(anext(aiter(main.stdout())), 30)
        assert first == "main-out\n"
        execution = await box.exec("sh", ["-c", "echo early; sleep 3; echo late"])
        stdout = aiter(execution.stdout())
        # Output arrived, so the SDK's own exec stream holds the attach: a second attach is a
        # 409 at the upgrade, which the SDK must still see as AlreadyExistsError.
        assert await asyncio.wait_for(anext(stdout), 30) == "early\n"
        with pytest.raises(boxlite.AlreadyExistsError):
            await box.attach(execution_id=execution.id())
        with pytest.raises(boxlite.SessionReapedError):
            await box.attach(execution_id="ex-no-such-execution")
        rest = await asyncio.wait_for(_collect(stdout), 30)
        result = await asyncio.wait_for(execution.wait(), 30)
        assert (rest, result.exit_code) == ("late\n", 0)
    finally:
        await rt.remove(box.id, force=True)


async def test_execution_control_through_the_proxy(api) -> None:
    rt = api.sdk()
    box = await rt.create(boxlite.BoxOptions(image=IMG))
    try:
        execution = await box.exec("sleep", ["30"])
        await execution.signal(15)
        assert (await asyncio.wait_for(execution.wait(), 30)).exit_code == 143
        execution = await box.exec("sleep", ["30"])
        await execution.kill()
        assert (await asyncio.wait_for(execution.wait(), 30)).exit_code == 137
        execution = await box.exec("sh", ["-c", "sleep 1; stty size"], tty=True)
        await execution.resize_tty(40, 120)
        result = await drain(execution)
        assert (result.stdout.strip(), result.exit_code) == ("40 120", 0)
        # The status probe the SDK falls back to, raw, through the same proxy.
        with api.http() as http:
            path = f"/v1/{api.org_id}/boxes/{box.id}/executions/{execution.id()}"
            status = http.get(path).json()
        assert (status["status"], status["exit_code"]) == ("completed", 0)
        assert isinstance(await rt.metrics(), boxlite.RuntimeMetrics)
    finally:
        await rt.remove(box.id, force=True)


async def test_runner_needs_its_own_token(api, runner, runner_token) -> None:
    """Bypassing the API on purpose needs the runner token; the admin key does not do it."""
    with pytest.raises(boxlite.ConfigError):
        await runner.sdk(token=ADMIN_KEY).list_info()
    direct = runner.sdk()
    box = await direct.create(boxlite.BoxOptions(image=IMG), name=f"bypass-{secrets.token_hex(3)}")
    try:
        assert box.id in [b.id for b in await direct.list_info()]
        # A box made behind the API's back is not the API's: invisible through it.
        assert await api.sdk().get(box.id) is None
        assert box.id not in [b.id for b in await api.sdk().list_info()]
    finally:
        await direct.remove(box.id, force=True)


async def test_api_restart_loses_no_box(runner, runner_token, tmp_path) -> None:
    org, state = unique_org(), tmp_path / "state"
    with new_api(state, runner, runner_token, org) as first:
        wait_ready(first)
        fixture_setup(first, IMG)
        box = await first.sdk().create(boxlite.BoxOptions(image=IMG), name="keep-me")
        assert (await run(box, "echo", "before")).stdout == "before\n"
    try:
        # Records persisted: the restarted API knows the box by id and by name.
        with new_api(state, runner, runner_token, org) as second:
            health = wait_ready(second)
            assert health["details"]["reconcile"]["ok"] == 1
            again = await second.sdk().get("keep-me")
            assert again is not None and again.id == box.id
            assert (await run(again, "echo", "after")).stdout == "after\n"
        # State file lost: the runner still names the box by its API id, so it is adopted,
        # loudly (the user's own name is gone with the file).
        (state / "api-state.json").unlink()
        with new_api(state, runner, runner_token, org) as third:
            health = wait_ready(third)
            assert health["details"]["reconcile"]["adopted"] == 1
            assert f"event=reconcile.adopted level=warning box_id={box.id}" in third.log_text()
            fixture_setup(third, IMG)
            adopted = await third.sdk().get(box.id)
            assert adopted is not None and (await adopted.info()).name is None
            assert (await run(adopted, "echo", "adopted")).stdout == "adopted\n"
            await third.sdk().remove(box.id, force=True)
    finally:
        # Removed above unless an assertion failed; the runner resolves the API id as a name.
        with contextlib.suppress(boxlite.NotFoundError):
            await runner.sdk().remove(box.id, force=True)


async def _collect(chunks) -> str:
    return "".join([chunk async for chunk in chunks])
