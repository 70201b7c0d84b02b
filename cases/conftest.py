"""Fixtures every e2e case gets. The logic lives in `lib/`; this file only wires it.

- `rt`: the session's REST runtime (`Boxlite.rest`, tracked: every box it or anything else
  in the case creates is recorded, named `e2e-<run>-<worker>-<hex>`, bounded, removed).
- `image`: the stack's default image; `@pytest.mark.image("ref")` overrides it per case.
- `box_factory` / `box`: boxes owned by the fixture; removed at teardown without counting
  as leaks.
- `api`: the raw REST client (httpx) bound to the org prefix, for hand-built requests.
- `rest`: raw authenticated access (base url, prefix, headers) for a client of the case's own
  or a route outside `/v1`; boxes are created through `api` or the SDK, never through it.
- `volume_factory`: managed volumes named like the run's boxes, removed at teardown.
- autouse: the local FFI runtime is refused, and every test's boxes are path-verified on both
  hops and removed (`lib.harness.plugin.E2ESession.finish_test`).

All async fixtures and tests share the session event loop the runtime lives in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import boxlite
import pytest
import pytest_asyncio

from lib.harness.api import ApiClient, RestAccess, rest_access
from lib.harness.config import Config
from lib.harness.plugin import E2ESession, session_of
from lib.harness.runtime import TrackedBox, TrackedRuntime, forbid_local_runtime, rest_runtime

pytest_plugins = ["lib.harness.plugin"]


@pytest.fixture(scope="session")
def e2e(pytestconfig: pytest.Config) -> E2ESession:
    return session_of(pytestconfig)


@pytest.fixture(scope="session")
def e2e_config(e2e: E2ESession) -> Config:
    return e2e.config


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rt(e2e: E2ESession) -> AsyncIterator[TrackedRuntime]:
    cfg = e2e.config
    runtime = rest_runtime(cfg.api_url, cfg.api_key, cfg.prefix, e2e.ledger)
    yield runtime
    try:
        await e2e.finish_session(runtime)
    finally:
        runtime.close()


@pytest.fixture(autouse=True)
def _rest_only(monkeypatch: pytest.MonkeyPatch, e2e: E2ESession, request) -> None:
    forbid_local_runtime(monkeypatch, e2e.ledger, [request.module] if request.module else [])


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _path_check(
    request, rt: TrackedRuntime, e2e: E2ESession, _rest_only
) -> AsyncIterator[None]:
    e2e.begin_test(request.node)
    yield
    await e2e.finish_test(request.node, rt)


@pytest.fixture
def image(request, e2e_config: Config) -> str:
    mark = request.node.get_closest_marker("image")
    return mark.args[0] if mark else e2e_config.image


@pytest_asyncio.fixture(loop_scope="session")
async def box_factory(
    rt: TrackedRuntime, image: str, e2e: E2ESession, _path_check
) -> Callable[..., Awaitable[TrackedBox]]:
    """`await box_factory(**BoxOptions fields, name=None)`; `options=` for a full BoxOptions."""

    async def make(options: Any = None, *, name: str | None = None, **fields: Any) -> TrackedBox:
        if options is None:
            fields.setdefault("image", image)
            options = boxlite.BoxOptions(**fields)
        elif fields:
            raise TypeError("pass either options= or BoxOptions fields, not both")
        made = await rt.create(options, name=name)
        e2e.ledger.claim(made.id)  # removed by the path check's teardown, not a leak
        return made

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def box(box_factory) -> TrackedBox:
    return await box_factory()


@pytest_asyncio.fixture(loop_scope="session")
async def api(e2e: E2ESession, _path_check) -> AsyncIterator[ApiClient]:
    cfg = e2e.config
    async with ApiClient(cfg.api_url, cfg.api_key, cfg.prefix, recorder=e2e.ledger) as client:
        yield client


@pytest.fixture
def rest(e2e_config: Config) -> RestAccess:
    return rest_access(e2e_config.api_url, e2e_config.api_key, e2e_config.prefix)


@pytest_asyncio.fixture(loop_scope="session")
async def volume_factory(rt: TrackedRuntime, e2e: E2ESession) -> AsyncIterator[Callable]:
    """`await volume_factory()` -> VolumeInfo; every volume made is removed after the test.

    This teardown runs before the path check removes the test's boxes, so a case removes
    the boxes that mount a volume itself (a volume still mounted fails this teardown loudly
    rather than being left behind)."""
    made: list[str] = []

    async def make():
        info = await rt.volumes.create(name=e2e.ledger.new_name())
        made.append(info.id)
        return info

    yield make
    for volume_id in made:
        try:
            await rt.volumes.remove(volume_id, force=True)
        except boxlite.NotFoundError:
            pass  # the case removed it itself
