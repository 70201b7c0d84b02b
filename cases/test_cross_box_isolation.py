"""Cross-box isolation (P0): one box cannot see another box's files.

Ported from upstream's e2e case `test_cross_box_isolation.py`, keeping what
made it sound: the search in the second box must end with grep's "no match" status exactly
(1); a match (0) is a breach, and an error or timeout (2, 124...) is inconclusive and fails
too, because a search that could not run proves nothing. Added here: a positive control, the
*same* search run in the first box must find the marker (status 0), which proves the search
can see the file at all. /proc, /sys and /dev are excluded: they hold the searching command
line itself and pseudo files that never end.
"""

from __future__ import annotations

import secrets

from lib.harness.case_helpers import sh

DIRS = "/tmp /root /home /etc /var /opt /srv /mnt /usr /bin /sbin /lib"


def _search(marker: str) -> str:
    # The marker is split in the command line, so only a file can contain it whole.
    head, tail = marker[:8], marker[8:]
    return (
        f'm="{head}""{tail}"; for d in {DIRS}; do [ -d "$d" ] && set -- "$@" "$d"; done; '
        'timeout 60 grep -rlF -- "$m" "$@" 2>/dev/null; echo "rc=$?"'
    )


async def test_a_box_cannot_see_another_boxes_files(box_factory):
    first, second = await box_factory(), await box_factory()
    marker = "isolation-" + secrets.token_hex(10)
    wrote = await sh(first, f"echo {marker} > /tmp/e2e-isolation && echo {marker} > /root/e2e-iso")
    assert wrote.exit_code == 0, wrote

    control = await sh(first, _search(marker), timeout=90)
    assert control.stdout.splitlines()[-1] == "rc=0", f"control search found nothing: {control}"
    assert "/tmp/e2e-isolation" in control.stdout, control

    probe = await sh(second, _search(marker), timeout=90)
    last = probe.stdout.splitlines()[-1] if probe.stdout else "no status"
    assert last != "rc=0", f"BREACH: the second box sees the first box's file: {probe}"
    assert last == "rc=1", f"inconclusive search in the second box ({last}): {probe}"
    direct = await sh(second, "cat /tmp/e2e-isolation /root/e2e-iso 2>/dev/null; true")
    assert marker not in direct.stdout, direct
