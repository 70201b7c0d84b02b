"""Fixtures every e2e case gets. The logic lives in `lib/`; this file only wires it.

- `rt`: the session's REST runtime (`Boxlite.rest`, tracked: every box it or anything else
  in the case creates is recorded, named `e2e-<run>-<worker>-<hex>`, bounded, removed).
- `image`: the stack's default image; `@pytest.mark.image("ref")` overrides it per case, and
  `image("tools")` / `image("minimal")` name a per-stack image (`lib.harness.images`).
- `box_factory` / `box`: boxes owned by the fixture; removed at teardown without counting
  as leaks.
- `api`: the raw REST client (httpx) bound to the org prefix, for hand-built requests.
- `rest`: raw authenticated access (base url, prefix, headers) for a client of the case's own
  or a route outside `/v1`; boxes are created through `api` or the SDK, never through it.
- `volume_factory`: managed volumes named like the run's boxes, removed at teardown.
- `netfault`: a runtime (`netfault.rt`) whose traffic goes through a loopback fault proxy
  applying the case's `@pytest.mark.netfault(...)` words (lib.harness.netfault), with
  `await netfault.box()` and the proxy's `events` as evidence.
- `rt` and `api` go through the run's network-profile proxy when
  `BOXLITE_E2E_NETWORK_PROFILE` is set (e.g. `wan`), straight to the API otherwise.
- SDK axis (lib/harness/sdk): a case taking `client` runs once per SDK (`[python]`,
  `[node]`, `[go]`); `client` is the neutral interface over that SDK (the Python `rt`, or a
  runtime inside the SDK's driver process), `sdk_box` one running box made through it.
  Boxes keep the harness's names and lifetimes and are path-checked and removed like any.
  `client_at(url)` gives one more client of the same SDK aimed at another URL (a proxy).
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

from lib.harness import images
from lib.harness.api import ApiClient, RestAccess, rest_access
from lib.harness.config import Config, SecondOrg
from lib.harness.netfault.session import NetFault, case_words
from lib.harness.plugin import E2ESession, session_of
from lib.harness.runtime import TrackedBox, TrackedRuntime, forbid_local_runtime, rest_runtime
from lib.harness.sdk import axis
from lib.harness.sdk.base import Client, ClientBox
from lib.harness.sdk.driver import DriverClient
from lib.harness.sdk.python_client import PythonClient

pytest_plugins = ["lib.harness.plugin"]


@pytest.fixture(scope="session")
def e2e(pytestconfig: pytest.Config) -> E2ESession:
    return session_of(pytestconfig)


@pytest.fixture(scope="session")
def e2e_config(e2e: E2ESession) -> Config:
    return e2e.config


@pytest.fixture(scope="session")
def second_org(e2e: E2ESession) -> SecondOrg:
    """Another org on the stack (url, prefix, its own key) for cross-org cases."""
    org = e2e.config.second_org
    if org is None:
        pytest.skip(
            "not applicable: the credentials profile has no second org "
            "(run fixture_setup.py, which provisions it)"
        )
    return org


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rt(e2e: E2ESession) -> AsyncIterator[TrackedRuntime]:
    cfg = e2e.config
    runtime = rest_runtime(e2e.client_url(), cfg.api_key, cfg.prefix, e2e.ledger)
    yield runtime
    try:
        await e2e.drivers.close()
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
    if not mark:
        return e2e_config.image
    ref = images.resolve(mark.args[0], e2e_config.stack)
    if images.available(e2e_config.api_url, e2e_config.api_key, ref) is False:
        pytest.skip(f"not applicable: image {ref} is not set up on this stack (fixture_setup)")
    return ref


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
    url = e2e.client_url()
    async with ApiClient(url, cfg.api_key, cfg.prefix, recorder=e2e.ledger) as client:
        yield client


@pytest.fixture
def rest(e2e: E2ESession) -> RestAccess:
    cfg = e2e.config
    return rest_access(e2e.client_url(), cfg.api_key, cfg.prefix)


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


@pytest_asyncio.fixture(loop_scope="session")
async def netfault(request, e2e: E2ESession, image: str, _path_check) -> AsyncIterator[NetFault]:
    cfg = e2e.config
    words = case_words(request.node, cfg)

    def make(url: str) -> TrackedRuntime:
        return rest_runtime(url, cfg.api_key, cfg.prefix, e2e.ledger)

    faulty = NetFault(cfg, words, make, e2e.ledger, image)
    try:
        yield faulty
    finally:
        print(faulty.proxy.summary())
        faulty.close()


async def _connect(sdk: str, url: str, rt: TrackedRuntime, e2e: E2ESession) -> Client:
    """A client of `sdk` on the stack's key and prefix, talking to `url`."""
    cfg = e2e.config
    if sdk == "python":
        if url == e2e.client_url():
            return PythonClient(rt, url, cfg.prefix)
        runtime = rest_runtime(url, cfg.api_key, cfg.prefix, e2e.ledger)
        return PythonClient(runtime, url, cfg.prefix, owned=True)

    async def lost_create(name: str) -> None:
        # A create the driver never answered may still have made the box: own it.
        found = await rt.get(name)
        if found is not None:
            e2e.ledger.record(found.id, name=name, route=f"{sdk}:create (unanswered)")

    proc = await e2e.drivers.get(sdk)
    return await DriverClient.connect(
        proc,
        url=url,
        api_key=cfg.api_key,
        prefix=cfg.prefix,
        ledger=e2e.ledger,
        lost_create=lost_create,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def client(
    request, sdk: str, rt: TrackedRuntime, e2e: E2ESession, _path_check
) -> AsyncIterator[Client]:
    made = await _connect(sdk, e2e.client_url(), rt, e2e)
    missing = axis.missing_capabilities(request.node, made.capabilities)
    if missing:
        await made.close()
        pytest.skip(
            f"not applicable: sdk {sdk} ({made.version}) has no "
            + "; ".join(axis.CAPABILITIES[c] for c in missing)
        )
    yield made
    await made.close()


@pytest_asyncio.fixture(loop_scope="session")
async def client_at(
    client: Client, sdk: str, rt: TrackedRuntime, e2e: E2ESession
) -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
    """`await client_at(url)`: another client of this case's SDK with the stack's key and
    prefix, talking to `url` (e.g. a fault-injecting proxy in front of the API). Its boxes
    are the ledger's like any; it is closed at teardown. The network-fault cases' hook."""
    made: list[Client] = []

    async def connect(url: str) -> Client:
        other = await _connect(sdk, url, rt, e2e)
        made.append(other)
        return other

    yield connect
    for other in made:
        await other.close()


@pytest_asyncio.fixture(loop_scope="session")
async def sdk_box(client: Client, image: str, e2e: E2ESession) -> ClientBox:
    made = await client.create(image)
    e2e.ledger.claim(made.id)  # removed by the path check's teardown, not a leak
    return made
