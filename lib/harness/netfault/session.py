"""What a case run does with network faults: which plan a case gets, and the fixture object.

- `case_words(item, cfg)`: the fault words a case runs under: the run's network profile
  (`BOXLITE_E2E_NETWORK_PROFILE`, every runtime) plus the case's own `netfault(...)` marks,
  filtered by `BOXLITE_E2E_NETFAULTS` (`marked`: all, `transparent`: none, a fault name: only
  that one). The filter is how a case's positive control and a mutation-matrix row run the
  same case without its fault, or with one fault of several.
- `known_bug_activity(item, cfg, issue)`: a `known_bug` whose issue one of the case's marked
  network faults exposes (`NetFaultSpec.exposes`) is active exactly while that fault is in
  force, on either stack: the bug is the SDK's, and the SDK is the same wheel on both.
- `NetFault`: what the `netfault` fixture hands a case: `rt`, a tracked `Boxlite.rest`
  runtime whose traffic goes through its own proxy (so the case's boxes are path-checked and
  removed like any other), the `proxy` (its `events` are the evidence), and `box()`.
"""

from __future__ import annotations

from typing import Any

import pytest

from lib.harness.config import Config
from lib.harness.netfault import faults as nf
from lib.harness.netfault.proxy import NetFaultProxy

MARK = "netfault"


def marked_words(item: pytest.Item) -> tuple[str, ...]:
    """The words of the case's `netfault` marks, validated (a bad one is a usage error)."""
    words: list[str] = []
    for mark in item.iter_markers(MARK):
        if not mark.args or mark.kwargs or not all(isinstance(a, str) for a in mark.args):
            raise pytest.UsageError(f"{item.nodeid}: @netfault takes network fault words")
        words.extend(mark.args)
    try:
        nf.parse(words)
    except nf.NetFaultError as exc:
        raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
    return tuple(words)


def kept(words: tuple[str, ...], which: str) -> tuple[str, ...]:
    """`words` filtered by BOXLITE_E2E_NETFAULTS: all, none, or only one fault's.

    Mutants (simulated bugs, lib.harness.netfault.faults) are the exception both ways: under
    `marked` they are dropped, since a case marks one only to be proven failing on its row
    and a correct client fails under it by design; when `which` selects a mutant the case
    marks, its network conditions (every other non-mutant mark) are kept with it, because
    the bug it models shows only under them (stdin lost across a reconnect needs the cut).
    A case that does not mark the selected fault runs transparent, as before."""
    if which == "marked":
        return tuple(w for w in words if not nf.is_mutant(w))
    if which == "transparent":
        return ()
    chosen = tuple(w for w in words if w.partition("=")[0] == which)
    if chosen and nf.is_mutant(which):
        return tuple(w for w in words if not nf.is_mutant(w)) + chosen
    return chosen


def profile_words(cfg: Config) -> tuple[str, ...]:
    """The run's network-profile words (none without a profile)."""
    return nf.profile(cfg.network_profile).names if cfg.network_profile else ()


def case_words(item: pytest.Item, cfg: Config) -> tuple[str, ...]:
    """What the case's proxy applies: the profile, then its kept marks."""
    return profile_words(cfg) + kept(marked_words(item), cfg.case_netfaults)


def known_bug_activity(item: pytest.Item, cfg: Config, issue: str) -> bool | None:
    """True/False when a marked network fault of this case exposes `issue`; else None."""
    marked = marked_words(item)
    if issue not in nf.parse(list(marked)).exposes():
        return None
    return issue in nf.parse(list(case_words(item, cfg))).exposes()


class NetFault:
    """A case's runtime behind its own fault proxy (the `netfault` fixture)."""

    def __init__(self, cfg: Config, words: tuple[str, ...], make_runtime, ledger: Any, image: str):
        self.plan = nf.parse(list(words))
        # Cases read the request log as evidence, so it is kept whatever the plan.
        self.proxy = NetFaultProxy(cfg.api_url, self.plan, observe=True).start()
        self.rt = make_runtime(self.proxy.url)
        self._ledger = ledger
        self._image = image

    async def box(self, **fields: Any) -> Any:
        """A box created through the proxy, owned by the fixture (removed, not a leak)."""
        import boxlite

        fields.setdefault("image", self._image)
        made = await self.rt.create(boxlite.BoxOptions(**fields))
        self._ledger.claim(made.id)
        return made

    def close(self) -> None:
        """Close the runtime, then the proxy."""
        try:
            self.rt.close()
        finally:
            self.proxy.close()
