"""The README's case catalogue table names every case file, once, and nothing else.

The table is where a reader learns what each file covers and which stack runs it; a case
file added without its row (or a row left behind by a removed file) makes it lie.
"""

from __future__ import annotations

from lib.names import REPO_ROOT

HEADER = "| file | subject | pins | runs on | fault |"


def _rows() -> list[str]:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADER) + 2  # past the header and the |---| line
    names = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        names.append(line.split("|")[1].strip())
    return names


def test_every_case_file_has_exactly_one_row():
    rows = _rows()
    files = sorted(p.stem.removeprefix("test_") for p in (REPO_ROOT / "cases").glob("test_*.py"))
    assert sorted(rows) == files, "README case catalogue table vs cases/test_*.py"
    assert len(rows) == len(set(rows)), "a case file listed twice"
