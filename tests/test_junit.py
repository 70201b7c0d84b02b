"""lib.junit: the one JUnit reader, against what pytest writes for each outcome."""

from __future__ import annotations

import pytest

from lib import junit

CASE = '<testcase classname="{}" name="{}" time="0.1">{}</testcase>'
JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
    + CASE.format("cases.test_a", "test_ok", "")
    + CASE.format("cases.test_a", "test_bad[x]", '<failure message="assert 0"/>')
    + CASE.format("cases.test_b", "test_err", '<error message="boom"/>')
    + CASE.format("cases.test_b", "test_na", '<skipped type="pytest.skip" message="n/a"/>')
    + CASE.format("cases.test_b", "test_known", '<skipped type="pytest.xfail" message="bug"/>')
    + CASE.format("cases.test_b", "test_fixed", '<failure message="[XPASS(strict)] bug"/>')
    + CASE.format("cases.test_c.TestK", "test_m", '<failure message="f"/>')
    + CASE.format("cases.test_c.TestK", "test_m", '<error message="teardown"/>')
    + "</testsuite></testsuites>"
)


def test_outcomes_are_read_raw_per_case():
    assert junit.read(JUNIT) == {
        "cases/test_a.py::test_ok": "passed",
        "cases/test_a.py::test_bad[x]": "failed",
        "cases/test_b.py::test_err": "error",
        "cases/test_b.py::test_na": "skipped",
        "cases/test_b.py::test_known": "xfailed",
        "cases/test_b.py::test_fixed": "xpassed",
        "cases/test_c.py::TestK::test_m": "failed",  # the teardown error does not mask it
    }


def test_node_ids_are_pytest_node_ids():
    assert junit.node_id("cases.test_a", "test_b[x-1]") == "cases/test_a.py::test_b[x-1]"
    assert junit.node_id("tests.sub.test_m.TestK", "test_n") == "tests/sub/test_m.py::TestK::test_n"
    assert junit.node_id("cases.t", "test_ok") == "cases.t::test_ok"  # no test module: as is


def test_garbage_is_refused():
    with pytest.raises(ValueError, match="not JUnit"):
        junit.read("<html/>")
    with pytest.raises(ValueError, match="not JUnit"):
        junit.read("<testsuites>")
