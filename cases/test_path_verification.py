"""Meta-test: the harness really drives the stack it is configured for, through both hops.

Upstream's meta-test checked a string in credentials.toml, not the runtime object
(history: docs/history.md). These check behaviour: a box made by `rt` is
known to the API at the configured URL and prefix, and one create + exec leaves the box id in
the API log and the runner log, read through the same verifier the autouse check uses.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest

from lib.harness.runtime import TrackedRuntime

pytestmark = pytest.mark.smoke


async def test_runtime_is_rest_at_the_configured_api(rt, api, box, e2e, e2e_config):
    assert isinstance(rt, TrackedRuntime)
    assert isinstance(rt, boxlite.Boxlite)
    # The API at the configured URL + prefix knows the box the runtime just created...
    resp = await api.get(f"/boxes/{box.id}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["box_id"] == box.id
    # ...reached straight, or under BOXLITE_E2E_NETWORK_PROFILE through the run's netfault
    # proxy, which forwards to exactly that API (found under the WAN profile: the URL the
    # clients use is then the proxy's, by design).
    proxy = e2e.network_proxy
    if e2e_config.network_profile:
        assert proxy is not None and proxy.upstream == e2e_config.api_url, proxy
        assert str(resp.request.url).startswith(proxy.url + "/v1/")
    else:
        assert proxy is None
        assert str(resp.request.url).startswith(e2e_config.api_url + "/v1/")
    # ...and the runtime lists it: both talk to the same server, over REST.
    assert box.id in {info.id for info in await rt.list_info()}


async def test_create_and_exec_leave_the_box_in_both_logs(e2e, box_factory):
    if e2e.verifier is None:
        pytest.skip("path verification disabled (BOXLITE_E2E_SKIP_PATH_VERIFY)")
    marks = e2e.verifier.mark()
    box = await box_factory()
    execution = await box.exec("echo", ["path-check"])
    out, err = await asyncio.gather(_collect(execution.stdout()), _collect(execution.stderr()))
    result = await execution.wait()
    assert (out, err, result.exit_code) == ("path-check\n", "", 0)

    verdict = e2e.verifier.verify(marks, [box.id], {box.id: box.name})
    assert verdict.ok, verdict.message()
    for hop in verdict.hops:
        assert hop.lines, f"{hop.hop}: verdict ok but no line kept"
    if e2e.config.stack == "standin":
        runner_lines = next(h.lines for h in verdict.hops if h.hop == "runner")
        # The stand-in runner names the API's id as `name=` on create and on exec.
        assert any("event=box.create" in line for line in runner_lines), runner_lines
        assert any("event=exec " in line for line in runner_lines), runner_lines


async def _collect(stream) -> str:
    return "".join([chunk async for chunk in stream])
