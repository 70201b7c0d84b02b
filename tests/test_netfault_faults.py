"""Network fault words, profiles and the case filter: parsing only, no socket."""

from __future__ import annotations

import pytest

from lib.harness.netfault import faults as nf
from lib.harness.netfault import session as ns


def test_fault_words_parse_into_one_plan():
    plan = nf.parse(["latency=50,20", "ws-cut-mid-stream", "reset-after-response=post|DELETE"])
    assert (plan.latency_ms, plan.jitter_ms, plan.ws_cut_mid_stream) == (50, 20, 64)
    assert plan.reset_methods == frozenset({"POST", "DELETE"})
    assert nf.parse(["reset-after-response"]).reset_methods == frozenset()
    assert nf.parse(["transparent"]) == nf.FaultPlan(names=("transparent",))
    assert nf.parse(["ws-cut-after-upgrade"]).exposes() == {"boxlite-ai/boxlite#627"}
    assert nf.profile("wan").latency_ms == 50 and nf.profile("wan").jitter_ms > 0
    assert nf.profile("latency=5;bandwidth=100").bandwidth_kbps == 100


@pytest.mark.parametrize(
    "words",
    [
        ["cut-everything"],
        ["latency"],
        ["latency=fast"],
        ["bandwidth=0"],
        ["ws-cut-mid-stream=1.5"],
        ["transparent=1"],
        ["reset-after-response=FETCH"],
    ],
)
def test_bad_fault_words_are_one_clear_error(words):
    with pytest.raises(nf.NetFaultError, match="network fault"):
        nf.parse(words)


def test_profiles_refuse_nothing_words():
    for name in ("", "none", "off"):
        with pytest.raises(nf.NetFaultError, match="unknown network profile"):
            nf.profile(name)


def test_case_filter_keeps_all_none_or_one_fault():
    words = ("ws-cut-after-upgrade", "latency=5")
    assert ns.kept(words, "marked") == words
    assert ns.kept(words, "transparent") == ()
    assert ns.kept(words, "latency") == ("latency=5",)
    assert ns.kept(words, "bandwidth") == ()


def test_mutants_apply_only_on_their_own_row_with_the_conditions_kept():
    # A mutant simulates a bug: never under `marked` (the ordinary run, where the case must
    # pass); selected, it keeps the case's network conditions, which the bug needs.
    words = ("ws-cut-mid-stream=11", "ws-reattach-drops-stdin", "ws-reattach-reports-success")
    assert ns.kept(words, "marked") == ("ws-cut-mid-stream=11",)
    assert ns.kept(words, "transparent") == ()
    assert ns.kept(words, "ws-reattach-drops-stdin") == words[:2]
    assert ns.kept(words, "ws-cut-mid-stream") == ("ws-cut-mid-stream=11",)
    assert ns.kept(("latency=5",), "ws-reattach-drops-stdin") == ()  # not its mark: nothing
    plan = nf.parse(["ws-exit-overtakes-output", "retry-post-after-reset"])
    assert plan.exit_overtakes_output and plan.retry_post_after_reset and plan.observes
    assert plan.exposes() == set(), "a mutant exposes no SDK bug: known_bug never applies"
    assert nf.is_mutant("ws-reattach-reports-success") and not nf.is_mutant("latency=5")
    with pytest.raises(nf.NetFaultError, match="takes no value"):
        nf.parse(["retry-post-after-reset=2"])
