"""The pytest plugin and cases/conftest.py, run with pytester against a fake stack.

Each test writes a small case file, runs it in-process with the real conftest, and asserts
on pytest's outcomes, the printed summary and results/summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness_pytester import summary

ISSUE = "boxlite-ai/boxlite#563"


def test_known_bug_active_fault_is_strict_xfail_and_listed_open(run, stack, env):
    stack.faults = [{"name": "attach-no-replay", "issue": ISSUE, "component": "runner"}]
    result = run(
        f"""
import pytest

@pytest.mark.known_bug("{ISSUE}")
def test_still_broken():
    assert False, "bug present"

@pytest.mark.known_bug("{ISSUE}")
def test_fixed_now():
    pass
"""
    )
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*remove @known_bug('boxlite-ai/boxlite#563')*"])
    s = summary(env)
    assert s["known_bugs_open"] == [{"test": "test_case.py::test_still_broken", "issue": ISSUE}]
    assert s["stack"] == "standin"
    assert s["stack_faults"][0]["issue"] == ISSUE
    result.stdout.fnmatch_lines(["*boxlite-e2e summary*", "known bugs still open: 1"])


def test_known_bug_without_fault_on_standin_must_pass(run, stack, env):
    stack.faults = []
    result = run(
        f"""
import pytest

@pytest.mark.known_bug("{ISSUE}")
def test_passes():
    pass

@pytest.mark.known_bug("{ISSUE}")
def test_regressed():
    assert False
"""
    )
    result.assert_outcomes(passed=1, failed=1)
    inactive = summary(env)["known_bugs_not_active"]
    assert {(i["test"].split("::")[1], i["outcome"]) for i in inactive} == {
        ("test_passes", "passed"),
        ("test_regressed", "failed"),
    }


def test_known_bug_on_cloud_always_applies(run, stack):
    stack.standin = False  # no faults endpoint: detected as the cloud stack
    result = run(
        f"""
import pytest

@pytest.mark.known_bug("{ISSUE}")
def test_x():
    assert False
"""
    )
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*stack cloud*"])


def test_racy_fault_gives_non_strict_xfail(run, stack):
    stack.faults = [{"name": "exec-stdout-drop", "issue": ISSUE, "probability": 0.3}]
    result = run(
        f"""
import pytest

@pytest.mark.known_bug("{ISSUE}")
def test_lucky():
    pass
"""
    )
    result.assert_outcomes(xpassed=1)


def test_needs_skips_with_reason_in_summary(run, env):
    result = run(
        """
import pytest

@pytest.mark.needs("cli")
def test_cli():
    pass

@pytest.mark.needs("standin")
def test_standin_only():
    pass
"""
    )
    result.assert_outcomes(skipped=1, passed=1)
    (item,) = summary(env)["not_applicable"]
    assert item["test"].endswith("test_cli")
    assert item["reason"].startswith("not applicable on stack standin: needs cli (no boxlite CLI")
    result.stdout.fnmatch_lines(["not applicable: 1", "*test_cli: not applicable*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('needs("gpu")', "unknown capability"),
        ('known_bug("563")', "must name an issue"),
        ("known_bug()", "exactly one string"),
        ("no_such_marker", "not found in `markers`"),
        ('catches("quota-clamps")', "unknown fault"),
        ("catches()", "takes fault names"),
        ('catches("net:ws-cut-everything")', "unknown fault"),
        # Pinned to a network fault the case does not mark: its row would never apply it.
        ('catches("net:retry-post-after-reset")', "without that fault in its @netfault mark"),
        ('netfault("cut-everything")', "unknown network fault"),
        ('netfault("latency")', "needs =MS"),
        ("netfault()", "takes network fault words"),
    ],
)
def test_marker_misuse_is_an_error_not_a_skip(run, marker, message):
    result = run(
        f"""
import pytest

@pytest.mark.{marker}
def test_x():
    pass
"""
    )
    assert result.ret != 0
    assert message in result.stdout.str() + result.stderr.str()
    assert result.parseoutcomes().get("passed", 0) == 0  # nothing ran


def test_collect_only_needs_no_stack_and_yields_the_catches_pins(run, monkeypatch, tmp_path):
    # The mutation matrix reads its pins this way (lib.proof.pins), before any stack is up.
    monkeypatch.setenv("BOXLITE_E2E_API_URL", "http://127.0.0.1:9")  # nothing listens
    out = tmp_path / "pins.json"
    result = run(
        """
import pytest

@pytest.mark.catches("quota-clamp", "validation-coerce")
@pytest.mark.parametrize("n", [1, 2])
def test_x(n):
    pass

def test_y():
    pass
""",
        "--collect-only",
        "-p",
        "lib.proof.pins",
        f"--e2e-pins-out={out}",
        subprocess=True,
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    pins = json.loads(out.read_text())
    assert pins == {
        "quota-clamp": ["test_case.py::test_x[1]", "test_case.py::test_x[2]"],
        "validation-coerce": ["test_case.py::test_x[1]", "test_case.py::test_x[2]"],
    }


def test_missing_profile_stops_at_start_with_exit_2(run, monkeypatch):
    monkeypatch.delenv("BOXLITE_E2E_API_KEY")
    result = run("def test_a(): pass\ndef test_b(): pass\n", subprocess=True)
    assert result.ret == 2
    err = result.stderr.str()
    assert err.count("boxlite-e2e cannot start") == 1
    assert "profile 'p1' not found" in err
    assert "test_a" not in result.stdout.str()  # stopped before collection: no per-case errors


def test_unreachable_api_stops_at_start_with_exit_2(run, monkeypatch):
    monkeypatch.setenv("BOXLITE_E2E_API_URL", "http://127.0.0.1:9/api")
    result = run("def test_a(): pass\n", subprocess=True)
    assert result.ret == 2
    assert "API unreachable at http://127.0.0.1:9/api" in result.stderr.str()


def test_box_path_ok_and_removed(run, stack, env):
    result = run(
        """
async def test_box(box, rt, image):
    assert image == "e2e/busybox:stable"
    assert (await rt.get(box.id)).id == box.id
"""
    )
    result.assert_outcomes(passed=1)
    assert stack.boxes == {}
    s = summary(env)
    assert s["leaked_boxes"] == [] and s["path_problems"] == []
    assert (env / "junit.xml").exists()


def test_image_marker_overrides_default(run, stack):
    result = run(
        """
import pytest

@pytest.mark.image("other/img:1")
async def test_img(image, box, e2e_config):
    assert image == "other/img:1"
    assert e2e_config.image == "e2e/busybox:stable"
"""
    )
    result.assert_outcomes(passed=1)


def test_bypassed_runner_fails_teardown_and_writes_slices(run, stack, env):
    stack.log_runner = False
    result = run(
        """
async def test_box(box):
    pass
"""
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*bypassed runner: box bx0001 (e2e-*) never appeared*within 0.3 s*"]
    )
    (folder,) = (env / "failures").iterdir()
    assert "bx0001" in (folder / "api.log").read_text()
    assert "no runner log line" in (folder / "runner.log").read_text()
    assert json.loads((folder / "boxes.json").read_text())[0]["box_id"] == "bx0001"
    assert "bypassed runner" in (folder / "report.txt").read_text()
    assert summary(env)["path_problems"][0]["outcome"] == "bypassed"
    assert stack.boxes == {}  # still removed


def test_leaked_box_is_reported_and_removed(run, stack, env):
    result = run(
        """
import boxlite

async def test_leaky(rt, image):
    await rt.create(boxlite.BoxOptions(image=image))

async def test_tidy(rt, image):
    b = await rt.create(boxlite.BoxOptions(image=image))
    await rt.remove(b.id)
"""
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*BoxLeakWarning*test_leaky left 1 box(es)*"])
    (leak,) = summary(env)["leaked_boxes"]
    assert leak["test"].endswith("test_leaky") and leak["route"] == "create"
    assert stack.boxes == {}
    result.stdout.fnmatch_lines(["leaked boxes (removed by the harness): 1"])


def test_removal_failure_is_an_error_not_swallowed(run, stack, env):
    stack.fail_delete.add("sticky")
    result = run(
        """
async def test_sticky(box_factory):
    await box_factory(name="sticky")
"""
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*could not remove box(es)*sticky*delete exploded*"])
    (item,) = summary(env)["removal_failures"]
    assert item["name"] == "sticky"


def test_raw_api_boxes_are_tracked(run, stack, env):
    result = run(
        """
async def test_raw(api, e2e):
    resp = await api.create_box({"image": "x"})
    assert resp.status_code == 201
"""
    )
    result.assert_outcomes(passed=1)
    assert stack.boxes == {}
    assert summary(env)["leaked_boxes"][0]["route"] == "raw-create"


def test_local_runtime_refused_inside_cases(run):
    result = run(
        """
import boxlite
import pytest
from boxlite import Boxlite

def test_default():
    with pytest.raises(RuntimeError, match="never goes through the REST API"):
        boxlite.Boxlite.default()

def test_early_import_ctor():
    with pytest.raises(RuntimeError, match="never goes through the REST API"):
        Boxlite(boxlite.Options())
"""
    )
    result.assert_outcomes(passed=2)


def test_skip_path_verify_only_for_truthy_values(run, stack, monkeypatch, env):
    stack.log_runner = False
    source = "async def test_box(box):\n    pass\n"
    monkeypatch.setenv("BOXLITE_E2E_SKIP_PATH_VERIFY", "0")
    run(source).assert_outcomes(passed=1, errors=1)
    monkeypatch.setenv("BOXLITE_E2E_SKIP_PATH_VERIFY", "yes")
    result = run(source)
    result.assert_outcomes(passed=1)
    assert summary(env)["path_verification"].startswith("skipped")


def test_xdist_two_workers_unique_names(run, stack, env):
    result = run(
        """
import pytest

@pytest.mark.parametrize("i", range(4))
async def test_box(box, i):
    pass
""",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=4)
    names = [json.loads(p["value"])[0]["name"] for p in _junit_props(env, "e2e_boxes")]
    assert len(set(names)) == 4
    workers = {n.split("-")[2] for n in names}
    assert workers == {"gw0", "gw1"}
    assert len({n.split("-")[1] for n in names}) == 1  # one run id across workers
    assert stack.boxes == {}


def _junit_props(results: Path, name: str) -> list[dict]:
    import xml.etree.ElementTree as ET

    root = ET.parse(results / "junit.xml").getroot()
    return [p.attrib for p in root.iter("property") if p.attrib.get("name") == name]


def test_session_scoped_leak_is_reported_in_summary(run, stack, env):
    result = run(
        """
import boxlite
import pytest_asyncio

@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared(rt, e2e_config):
    return await rt.create(boxlite.BoxOptions(image=e2e_config.image))  # never removed

async def test_uses_shared(shared):
    assert shared.id
"""
    )
    result.assert_outcomes(passed=1)
    (leak,) = summary(env)["leaked_boxes"]
    assert leak["test"] == "(session)" and leak["route"] == "create"
    assert stack.boxes == {}


def test_plain_failure_gets_a_report_folder(run, env):
    result = run("def test_fails():\n    assert 1 == 2, 'plainly wrong'\n")
    result.assert_outcomes(failed=1)
    (folder,) = (env / "failures").iterdir()
    report = (folder / "report.txt").read_text()
    assert "plainly wrong" in report and "=== call: failed" in report
    assert json.loads((folder / "boxes.json").read_text()) == []


NET_CASES = """
import pytest

@pytest.mark.netfault("ws-cut-after-upgrade")
@pytest.mark.known_bug("boxlite-ai/boxlite#627")
def test_cut():
    assert False, "output lost"

@pytest.mark.netfault("ws-cut-after-upgrade")
@pytest.mark.known_bug("boxlite-ai/boxlite#627")
def test_cut_passes():
    pass
"""


def test_known_bug_exposed_by_a_network_fault_applies_while_it_is_in_force(run, stack, env):
    # The stand-in has no fault for #627: the case's own network fault makes it active.
    stack.faults = []
    result = run(NET_CASES)
    result.assert_outcomes(xfailed=1, failed=1)  # the pass is an XPASS(strict)
    assert summary(env)["known_bugs_open"] == [
        {"test": "test_case.py::test_cut", "issue": "boxlite-ai/boxlite#627"}
    ]


@pytest.mark.parametrize("standin", [True, False])
def test_network_exposed_known_bug_is_inactive_without_its_fault(
    run, stack, env, monkeypatch, standin
):
    # The positive control: with the case's network faults filtered out, it must pass, on
    # either stack (on cloud an always-active marker would XPASS here).
    stack.standin = standin
    monkeypatch.setenv("BOXLITE_E2E_NETFAULTS", "transparent")
    result = run(NET_CASES)
    result.assert_outcomes(passed=1, failed=1)
    s = summary(env)
    assert s["network"]["case_netfaults"] == "transparent"
    assert {i["outcome"] for i in s["known_bugs_not_active"]} == {"passed", "failed"}


def test_summary_states_the_network_profile(run, env, monkeypatch):
    monkeypatch.setenv("BOXLITE_E2E_NETWORK_PROFILE", "wan")
    result = run("def test_x():\n    pass\n")
    result.assert_outcomes(passed=1)
    s = summary(env)
    assert s["network"]["profile"] == "wan"
    result.stdout.fnmatch_lines(["network: profile wan (every runtime and raw client*"])
    result.stdout.fnmatch_lines(["boxlite-e2e: network profile wan*"])
