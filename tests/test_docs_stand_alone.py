"""The repository's docs stand alone: no tracked file points into documents kept outside it.

The project was designed against notes that are not part of this repository (a study of
upstream's harness, a wire-protocol write-up, a list of reference codebases). A comment that
cites one of them ("see <doc> §5.3") tells a reader of this repository nothing, so every such
pointer was replaced by the reason it stood for, and this test keeps it that way. It is
two-sided: the same finder that scans the tree is shown to flag a synthetic pointer of each
kind and to pass a clean text.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lib.names import REPO_ROOT

THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()

# The outside documents, by name, plus the folder they live in. The two protocol/harness
# names are matched with or without `.md`: the bare name plus a section is a pointer too.
POINTER = re.compile(
    r"upstream-harness(?:\.md)?|rest-protocol(?:\.md)?|anchors\.md|shared/docs",
    re.IGNORECASE,
)
# A bare section number ("(§4.2)") points into one of them too; an RFC's section does not.
SECTION = re.compile(r"§\s?\d")
RFC_BEFORE = re.compile(r"RFC\s?\d+\s*$")


def pointers(text: str) -> list[tuple[int, str]]:
    """(line number, matched text) for every pointer to an outside document in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        found += [(number, match.group(0)) for match in POINTER.finditer(line)]
        found += [
            (number, match.group(0))
            for match in SECTION.finditer(line)
            if not RFC_BEFORE.search(line[: match.start()])
        ]
    return found


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [name for name in out.split("\0") if name and name != THIS_FILE]


def test_no_tracked_file_points_outside_the_repo():
    files = tracked_files()
    assert len(files) > 50, f"git ls-files listed only {len(files)} files under {REPO_ROOT}"
    found = []
    for name in files:
        path = REPO_ROOT / name
        if not path.is_file():  # tracked but deleted in this work tree
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{name}:{number}: {hit}" for number, hit in pointers(text)]
    assert not found, "pointers to documents outside the repo:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "pointer",
    [
        "(upstream-harness.md §5.4)",
        "(upstream-harness §7, test_x)",
        "see rest-protocol.md §1.1",
        "(rest-protocol §4.2)",
        '(anchors.md "Measurable goals" D)',
        "`../shared/docs/architecture.md`",
        "(§3.2)",
    ],
)
def test_a_pointer_of_each_kind_is_flagged(pointer):
    text = f'"""A docstring.\n\nThe prefix is inserted verbatim {pointer}.\n"""\n'
    assert {number for number, _ in pointers(text)} == {3}


def test_a_clean_text_is_not_flagged():
    text = (
        "The SDK inserts the path prefix verbatim; history: docs/history.md.\n"
        "Runs to see a bug of rate p once at confidence c: ceil(ln(1-c)/ln(1-p)).\n"
        "Reference codebases anchor the design; the protocol is REST.\n"
        "Close codes per RFC 6455 §7.4.1; hop-by-hop headers per RFC 9110 §7.6.1.\n"
    )
    assert pointers(text) == []
