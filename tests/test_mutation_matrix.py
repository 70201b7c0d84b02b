"""The mutation matrix: its pure parts, the pins against the catalogue, and a reduced run.

The reduced run (`test_reduced_matrix_on_a_private_stand_in`) is what `make test` affords:
the whole catalogue once on a clean private stand-in, then, per fault, only the files of the
cases pinned to it (a false alarm inside those files still shows), with the racy fault at
P=0.2 once. The full matrix, every fault against every case plus the repeated runs for the
detection rates, is `make mutation-matrix`.
"""

from __future__ import annotations

import ast

import pytest

from lib.harness.sdk.availability import detect_node
from lib.names import REPO_ROOT
from lib.proof import mutation_matrix as mm
from lib.proof.pins import CLIENT_BUGS
from lib.proof.pins import collect as collect_pins
from standin.faults import SPECS

CASES = REPO_ROOT / "cases"

P06 = "cases/test_p0_6_exec_stdout_race.py::test_exec_stdout_is_complete_before_exit"
SDK_OUTPUT = "cases/test_sdk_exec_output.py::test_multiline_output_is_complete_before_exit"
BAD_KEY_NODE = "cases/test_sdk_errors.py::test_bad_key_is_an_auth_error[node]"


@pytest.fixture(scope="module")
def pins() -> dict[str, tuple[str, ...]]:
    return collect_pins()


def _row(fault, outcomes, pins=None, **kw):
    return mm.Row(fault or "clean", fault, outcomes, pins=tuple((pins or {}).get(fault, ())), **kw)


def test_clean_row_allows_only_pass_and_not_applicable():
    ok = _row(None, {"a": "passed", "b": "skipped"}, boxes_left=0)
    assert ok.problems() == []
    for outcome in ("failed", "error", "xfailed", "xpassed"):
        assert _row(None, {"a": outcome}).problems(), outcome
    assert _row(None, {"a": "passed"}, boxes_left=2).problems() == [
        "2 box(es) left on the stack after the run"
    ]
    assert _row(None, {}).problems() == ["no case ran (empty JUnit)"]


def test_fault_row_needs_every_pin_caught_and_nothing_else():
    table = {"spawn-failed-500": ("t.py::a", "t.py::b")}
    pinned = table["spawn-failed-500"]

    def problems(outcomes):
        return _row("spawn-failed-500", outcomes, table).problems()

    caught = dict.fromkeys(pinned, "xfailed") | {"other": "passed"}
    assert problems(caught) == []
    assert any(p.startswith("missed:") for p in problems(caught | {pinned[0]: "passed"}))
    assert any(p.startswith("false alarm:") for p in problems(caught | {"other": "failed"}))
    assert any(p.startswith("false alarm:") for p in problems(caught | {"other": "xpassed"}))
    assert any("did not run" in p for p in problems({pinned[0]: "xfailed"}))
    assert problems({"other": "passed"}) and _row("spawn-failed-500", {"x": "failed"}).problems()


def test_not_applicable_pins_are_not_misses_but_one_must_run():
    table = {"quota-clamp": ("t.py::a[python]", "t.py::a[go]")}
    row = _row("quota-clamp", {"t.py::a[python]": "failed", "t.py::a[go]": "skipped"}, table)
    assert row.problems() == []
    none_ran = _row("quota-clamp", dict.fromkeys(table["quota-clamp"], "skipped"), table)
    assert any("no pinned case" in p for p in none_ran.problems())


def test_sdk_bug_cases_must_xfail_in_every_row():
    bugs = ("t.py::bad_key[node]",)
    clean = mm.Row("clean", None, {bugs[0]: "xfailed", "x": "passed"}, client_bugs=bugs)
    assert clean.problems() == []
    fixed = mm.Row("clean", None, {bugs[0]: "passed"}, client_bugs=bugs)
    assert any("did not xfail" in p for p in fixed.problems())
    table = {"spawn-failed-500": ("t.py::a",)}
    faulty = mm.Row(
        "spawn-failed-500",
        "spawn-failed-500",
        {"t.py::a": "failed", bugs[0]: "xfailed"},
        pins=table["spawn-failed-500"],
        client_bugs=bugs,
    )
    assert faulty.problems() == []


def test_broad_fault_lists_collateral_without_calling_it_a_false_alarm():
    pinned = {"exec-stdout-drop": (P06,)}
    row = _row("exec-stdout-drop", {P06: "failed", "x": "failed", "y": "passed"}, pinned)
    assert row.problems() == [] and row.collateral() == ["x"]
    assert "(+1 collateral)" in mm.render([row], [])


def test_detection_rate_and_table():
    d = mm.Detection("exec-stdout-drop", 0.05, runs=20, detected=20)
    rate, low, high = d.rate()
    assert rate == 1.0 and 0.83 < low < 0.84 and high == 1.0
    text = mm.render([_row(None, {"a": "passed"}, boxes_left=0)], [d], markdown=True)
    assert "| `exec-stdout-drop` | 0.05 | 20 | 20 | 100% [84%, 100%] |" in text
    assert "| `clean` | - | nothing (1 passed, 0 n/a) | ok; boxes left 0 |" in text


def _case_functions() -> dict[str, ast.AsyncFunctionDef | ast.FunctionDef]:
    found = {}
    for path in sorted(CASES.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[f"cases/{path.name}::{node.name}"] = node
    return found


def _known_bugs(node) -> list[str]:
    issues = []
    for deco in node.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "known_bug"
        ):
            issues.append(ast.literal_eval(deco.args[0]))
    return issues


def test_every_fault_is_caught_by_marked_cases(pins):
    # Read from the cases' catches marks: every registered fault has a case, and the marks
    # name registered faults only (the plugin refuses others at collection).
    faults = set(pins) - {CLIENT_BUGS}
    stand_in = {f for f in faults if not mm.is_network(f)}
    assert stand_in == set(SPECS), "each stand-in fault needs a @catches case, and only those"
    # Network rows exist exactly for the network faults some case catches.
    assert {f for f in faults if mm.is_network(f)} == {
        "net:ws-cut-after-upgrade",
        "net:ws-cut-mid-stream",
        # Mutants: the failing sides of the network cases that pass under their condition.
        "net:ws-reattach-drops-stdin",
        "net:ws-reattach-reports-success",
        "net:ws-exit-overtakes-output",
        "net:retry-post-after-reset",
    }
    # The SDK-axis case counts once per SDK: python, node and go.
    assert pins["exec-stdout-drop"] == (
        P06,
        *(f"{SDK_OUTPUT}[{s}]" for s in ("go", "node", "python")),
    )
    assert len(pins["quota-clamp"]) == 17  # parametrised cases count once per parameter set
    assert pins[CLIENT_BUGS] == (BAD_KEY_NODE,)


def test_known_bug_markers_on_pinned_cases_name_their_faults_issue(pins):
    # Otherwise the marker never applies on the stand-in and the pinned case fails instead of
    # xfailing there, or (worse) applies under another fault and XPASSes.
    functions = _case_functions()
    for fault, cases in pins.items():
        for case in cases:
            for issue in _known_bugs(functions[case.split("[")[0]]):
                assert issue == mm.issue_of(fault), (case, issue, fault)


@pytest.mark.stack
@pytest.mark.timeout(1200)
def test_reduced_matrix_on_a_private_stand_in(tmp_path):
    lines: list[str] = []
    stack = mm.MatrixStack(log=lines.append)
    try:
        stack.up()
        pins = collect_pins()
        bugs = pins.pop(CLIENT_BUGS, ())
        faults = mm.all_faults(pins)
        plan = mm.Plan(
            faults=faults,
            pinned_only=True,
            workers=2,
            pins=pins,
            client_bugs=tuple(bugs),
        )
        rows, detections = mm.run_matrix(stack, plan, tmp_path)
        assert stack.boxes() == []
    finally:
        stack.close()
    print("\n".join(lines))
    print(mm.render(rows, detections))
    assert [r.fault for r in rows] == [None, *faults]
    assert any(mm.is_network(f) for f in faults), "network-fault rows are part of the matrix"
    assert len(rows[0].outcomes) >= 90, "the clean row must run the whole catalogue"
    assert mm.problems(rows, detections) == []
    assert all(r.boxes_left == 0 for r in rows)
    # The SDK axis two-sided for node as for python: every pinned [node] case ran and caught
    # its fault (problems() lets a not-applicable pin pass; on this host node is there).
    # attach-no-replay has none: Node 0.10.0 cannot re-attach (not applicable).
    if detect_node(None, None).available:
        for row in rows[1:]:
            if not any("[python" in c for c in row.pins):
                continue  # a fault only non-axis cases pin (network, lifecycle, cross-org)
            no_attach = row.fault == "attach-no-replay"
            for want in ("python", "node"):
                axis = [c for c in row.pins if f"[{want}" in c]
                expected = {"skipped"} if want == "node" and no_attach else mm.CAUGHT
                assert axis and all(row.outcomes.get(c) in expected for c in axis), (
                    row.label,
                    {c: row.outcomes.get(c) for c in axis},
                )


def test_network_rows_run_the_stand_in_clean_and_only_their_fault():
    # A network row's cases keep only that network fault; every other row runs the cases'
    # network faults transparent (the clean row is their positive control).
    assert mm.row_env("net:ws-cut-after-upgrade") == {mm.NETFAULTS_ENV: "ws-cut-after-upgrade"}
    assert mm.row_env(None) == {mm.NETFAULTS_ENV: "transparent"}
    assert mm.row_env("quota-clamp") == {mm.NETFAULTS_ENV: "transparent"}
    assert mm._fault_arg("net:ws-cut-mid-stream") == "net:ws-cut-mid-stream"
    assert mm.issue_of("net:ws-cut-after-upgrade") == "boxlite-ai/boxlite#627"
    assert mm.issue_of("net:ws-exit-overtakes-output") == "boxlite-ai/boxlite#563"
    assert mm.issue_of("net:retry-post-after-reset") == "boxlite-e2e/issues#11"
    assert mm.known_fault("net:latency") and not mm.known_fault("net:nope")
    assert not mm.known_fault("nope")
    row = mm.Row(
        "net:ws-cut-after-upgrade",
        "net:ws-cut-after-upgrade",
        {"cases/a.py::t": "xfailed", "cases/b.py::t": "passed"},
        0,
        pins=("cases/a.py::t",),
    )
    assert row.problems() == []
    assert "#627" in mm.render([row], [])
