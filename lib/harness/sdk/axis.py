"""How the plugin spreads a case over the SDK axis, and what it does with the SDK it lacks.

- A test that takes the `sdk` fixture (directly or through `client`) is parametrised with
  every SDK of the axis, id `[python]`, `[node]`, `[go]` first in the test id, always, so
  the per-SDK table of a run has the same rows on every host.
- An SDK this host cannot drive is skipped with "not applicable: sdk <name>: <reason>"
  (lib/harness/sdk/availability.py); the summary lists each, never a pass.
- `@pytest.mark.sdk_needs("attach")`: the case needs an SDK capability the driver reports
  in its ready line (Python has them all); checked when the client is made, skipped as not
  applicable with the SDK's own version in the reason.
- `@pytest.mark.sdk_bug("node", "what is wrong")`: a client-side bug of one SDK's binding,
  found by the axis: strict xfail for that SDK only (on every stack: it is in the client,
  not the server), so a fixed release XPASSes and says to remove the marker.
- Each axis item carries `e2e_sdk` in its user properties; the summary's per-SDK table is
  built from it (lib.harness.reports).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from lib.harness.sdk import SDKS
from lib.harness.sdk.availability import Availability

PROP_SDK = "e2e_sdk"
MARKERS = (
    "sdk_needs(*capabilities): an SDK-axis case needing SDK capabilities (attach); "
    "not applicable for an SDK without them",
    "sdk_bug(sdk, reason): a known client-side bug of one SDK's binding; strict xfail for "
    "that SDK only",
)
CAPABILITIES = {
    "attach": "Box.attach(execution_id): re-attach to an execution by id",
    "exec_env": "per-execution env, user, timeout and working dir",
    "box_lifetimes": "auto_stop, auto_delete and auto_resume on create",
}


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Parametrise `sdk` with every SDK of the axis (ids python, node, go)."""
    if "sdk" in metafunc.fixturenames:
        metafunc.parametrize("sdk", SDKS, ids=SDKS)


def apply(item: pytest.Item, sdks: Mapping[str, Availability]) -> None:
    """Mark one collected item for its SDK: property, not-applicable skip, sdk_bug xfail."""
    callspec = getattr(item, "callspec", None)
    sdk = callspec.params.get("sdk") if callspec is not None else None
    for mark in item.iter_markers("sdk_needs"):
        bad = [c for c in mark.args if c not in CAPABILITIES]
        if not mark.args or bad or mark.kwargs:
            raise pytest.UsageError(
                f"{item.nodeid}: sdk_needs takes capability names ({', '.join(CAPABILITIES)})"
            )
    if sdk is None:
        if any(item.iter_markers("sdk_needs")) or any(item.iter_markers("sdk_bug")):
            raise pytest.UsageError(f"{item.nodeid}: sdk_needs/sdk_bug need the `sdk` fixture")
        return
    item.user_properties.append((PROP_SDK, json.dumps(sdk)))
    avail = sdks.get(sdk)
    if avail is None or not avail.available:
        reason = avail.reason if avail else "unknown to this configuration"
        item.add_marker(pytest.mark.skip(reason=f"not applicable: sdk {sdk}: {reason}"))
        return
    for mark in item.iter_markers("sdk_bug"):
        if len(mark.args) != 2 or mark.args[0] not in SDKS or mark.kwargs:
            raise pytest.UsageError(f"{item.nodeid}: sdk_bug(sdk, reason), sdk in {SDKS}")
        if mark.args[0] == sdk:
            item.add_marker(
                pytest.mark.xfail(
                    strict=True,
                    reason=f"known {sdk} SDK bug ({avail.version}): {mark.args[1]}; an XPASS "
                    "means it is fixed: remove @sdk_bug",
                )
            )


def missing_capabilities(item: pytest.Item, have: frozenset[str]) -> list[str]:
    """The `sdk_needs` capabilities of `item` that `have` lacks."""
    needed = [c for mark in item.iter_markers("sdk_needs") for c in mark.args]
    return [c for c in needed if c not in have]
