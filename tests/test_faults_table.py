"""The README's faults table is the one table of stand-in faults, and it matches the registry.

Each row's name (without `[=P]`), side and issue must be those of `standin.faults.SPECS`, and
every registered fault must have a row: a fault added without its documentation, or a row
left behind by a removed fault, fails here.
"""

from __future__ import annotations

import re

from lib.names import REPO_ROOT
from standin.faults import SPECS

HEADER = "| fault | side | models |"
ROW = re.compile(
    r"^\| `(?P<name>[a-z0-9-]+)(?:\[=P\])?` \| (?P<side>\w+) \| "
    # An issue (`owner/repo#N`) or, where upstream's cases cite only their internal
    # tracker, the ticket (`owner/repo POL-N`).
    r"(?P<issue>[\w.-]+/[\w.-]+(?:#\d+| POL-\d+)):"
)


def _rows() -> list[re.Match[str]]:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and the |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"malformed faults-table row: {line}"
        rows.append(match)
    return rows


def test_every_registered_fault_has_one_row_that_matches_it():
    rows = _rows()
    names = [m["name"] for m in rows]
    assert sorted(names) == sorted(SPECS), "README faults table vs standin/faults.py"
    for m in rows:
        spec = SPECS[m["name"]]
        assert (m["side"], m["issue"]) == (spec.side, spec.issue), m["name"]
        assert ("[=P]" in m[0]) == spec.probabilistic, m["name"]


def test_the_table_appears_once_in_the_docs():
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    assert sum(p.read_text().count(HEADER) for p in docs) == 1
