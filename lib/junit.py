"""The one JUnit reader: pytest's XML back to what each case actually did.

Why one module: the two-sided verdict counts a run's outcomes and the mutation matrix maps
outcomes per case; both must agree on what a case did, or a fault could be "caught" by one
tool and "passed" by the other. pytest's writer disguises two outcomes that matter here:

- an xfail (a `known_bug` case that failed: the bug showed) is `<skipped type="pytest.xfail">`;
- an XPASS(strict) (the case passed where a bug was expected) is a `<failure>` whose message
  starts with `[XPASS(strict)]`.

Both are mapped back, so no marker can turn a detected bug into a pass or the reverse. A case
that failed its call and then errored in teardown appears as two elements; the worse outcome
(`SEVERITY`) wins, so a teardown error never masks the call's failure. Case ids are pytest
node ids (`cases/test_x.py::TestK::test_y[p]`), the form a user can paste back into pytest.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
# Worst first; with two elements for one case the earlier entry here wins.
SEVERITY = ("failed", "error", "xfailed", "xpassed", "passed", "skipped")


def node_id(classname: str, name: str) -> str:
    """`cases.test_x.TestK` + `test_y[p]` -> `cases/test_x.py::TestK::test_y[p]`."""
    parts = classname.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].startswith("test_") or parts[i].endswith("_test"):
            path = "/".join(parts[: i + 1]) + ".py"
            return "::".join([path, *parts[i + 1 :], name])
    return "::".join(filter(None, (classname, name)))


def _outcome(case: ET.Element) -> str:
    failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
    if failure is not None:
        message = failure.get("message") or ""
        return "xpassed" if message.startswith("[XPASS(strict)]") else "failed"
    if error is not None:
        return "error"
    if skipped is not None:
        return "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
    return "passed"


def read(xml_text: str) -> dict[str, str]:
    """Per case (node id, in file order): one of OUTCOMES.

    Raises ValueError when the text is not JUnit XML (a truncated file from a killed run).
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not JUnit XML: {exc}") from None
    if root.tag not in {"testsuites", "testsuite"}:
        raise ValueError(f"not JUnit XML: root element <{root.tag}>")
    out: dict[str, str] = {}
    for case in root.iter("testcase"):
        cid = node_id(case.get("classname", ""), case.get("name", ""))
        outcome = _outcome(case)
        seen = out.get(cid)
        if seen is None or SEVERITY.index(outcome) < SEVERITY.index(seen):
            out[cid] = outcome
    return out
