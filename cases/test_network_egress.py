"""Outbound network policy over REST: disabled, allow-listed, and the host's loopback.

Upstream's `apps/e2e/cases/test_network_egress.py` pins the same contract against hosts on
the internet; here every probe targets a listener the harness serves on this host's
loopback (`lib.harness.hostlistener`), which a box reaches only through BoxLite's host alias
`host.boxlite.internal` (192.168.127.254, NATed to the host's 127.0.0.1; upstream
src/boxlite/src/net/constants.rs). No probe leaves the machine.

The contract (the API maps `network.mode`/`allow_net` to the runner's networkBlockAll /
networkAllowList, apps/api/src/boxlite-rest/mappers/box-to-box.mapper.ts; the runner hands
them to the box's gateway, apps/runner/pkg/boxlite/client.go):
- a box's `127.0.0.1` is its own; the host's loopback is never there;
- `mode="disabled"` reaches nothing;
- an empty allow-list reaches everything, the host alias included;
- a non-empty allow-list reaches only what it lists: the alias only when listed by address
  or by a covering CIDR. boxlite-ai/boxlite#1106 fixed the alias being exempt from the list,
  so a "sealed" box could still reach every service on the host's loopback (fault
  `allow-net-alias-exempt`).

Each refusal is paired with a control that reaches the same listener from a box the policy
allows, in the same run, so "not reached" cannot be a broken network or listener. Reaching is
proven twice: the listener's token in the box's output, and the listener's connection count.
"""

from __future__ import annotations

import boxlite
import pytest
import pytest_asyncio

from lib.harness.case_helpers import sh
from lib.harness.hostlistener import HOST_ALIAS, HOST_ALIAS_IP, HostListener, local_stack

# TEST-NET-3 (RFC 5737): a destination an allow-list may name; no probe ever dials it.
ELSEWHERE = "203.0.113.7"


@pytest.fixture
def _local(e2e_config):
    if not local_stack(e2e_config.api_url):
        pytest.skip(
            "not applicable: the stack is not on this machine, so its boxes cannot reach a "
            "listener on this host's loopback"
        )


@pytest_asyncio.fixture(loop_scope="session")
async def listener(_local):
    async with HostListener() as hl:
        yield hl


def _net(mode: str = "enabled", allow: list[str] | None = None) -> boxlite.NetworkSpec:
    return boxlite.NetworkSpec(
        outbound=boxlite.OutboundNetworkSpec(mode=mode, allow_net=list(allow or []))
    )


async def _reach(box, listener: HostListener, host: str = HOST_ALIAS) -> tuple[bool, int, str]:
    """(reached, connections the listener accepted meanwhile, the probe's output)."""
    before = listener.connections
    out = await sh(box, listener.probe_script(host), timeout=60)
    reached = out.stdout.rstrip().endswith("REACHED") and "NOT-REACHED" not in out.stdout
    if reached:
        assert listener.token in out.stdout, out
    return reached, listener.connections - before, str(out)


async def test_box_loopback_is_its_own_not_the_hosts(box_factory, listener):
    box = await box_factory(network=_net())
    reached, seen, out = await _reach(box, listener)
    assert reached and seen >= 1, f"control: the box cannot reach the host alias: {out}"
    reached, seen, out = await _reach(box, listener, "127.0.0.1")
    assert not reached, f"the box's 127.0.0.1 is the host's loopback: {out}"
    assert seen == 0, f"the host listener accepted {seen} connection(s) from 127.0.0.1: {out}"


async def test_disabled_network_reaches_nothing(box_factory, listener):
    control = await box_factory(network=_net())
    reached, _, out = await _reach(control, listener)
    assert reached, f"control: an enabled box cannot reach the host alias: {out}"
    sealed = await box_factory(network=_net("disabled"))
    for host in (HOST_ALIAS, HOST_ALIAS_IP, "127.0.0.1"):
        reached, seen, out = await _reach(sealed, listener, host)
        assert not reached and seen == 0, f"a disabled box reached {host}: {out}"


@pytest.mark.parametrize("rule", [HOST_ALIAS_IP, "192.168.127.0/24"], ids=["address", "cidr"])
async def test_allow_list_admits_the_host_alias_it_names(box_factory, listener, rule):
    box = await box_factory(network=_net(allow=[ELSEWHERE, rule]))
    reached, seen, out = await _reach(box, listener)
    assert reached and seen >= 1, f"allow_net={[ELSEWHERE, rule]} blocked what it names: {out}"


@pytest.mark.catches("allow-net-alias-exempt")
async def test_allow_list_denies_the_unlisted_host_alias(box_factory, listener):
    """boxlite-ai/boxlite#1106: the alias is an ordinary destination under an allow-list."""
    control = await box_factory(network=_net())
    reached, _, out = await _reach(control, listener)
    assert reached, f"control: a box without an allow-list cannot reach the host alias: {out}"
    sealed = await box_factory(network=_net(allow=[ELSEWHERE]))
    for host in (HOST_ALIAS, HOST_ALIAS_IP):
        reached, seen, out = await _reach(sealed, listener, host)
        assert not reached, f"allow_net=[{ELSEWHERE}] still let the box reach {host}: {out}"
        assert seen == 0, f"the host listener accepted {seen} connection(s) via {host}: {out}"
