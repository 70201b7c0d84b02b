"""Realistic multi-step use of a box with real tools: a script, a repository, an HTTP fetch.

Upstream's `apps/e2e/cases/test_real_world.py` drives boxes the way an agent does: write a
program, run it, keep state across execs, use the box's tools. These run on the `tools`
image (`@pytest.mark.image("tools")`: the stand-in's Debian image with python3, git and curl
and a `/workspace`; a python image on the cloud stack). Each step checks what the previous
one left, so a box that loses files between execs, mangles a heredoc on the way in, or runs
with a broken userland fails here rather than in a user's agent.
"""

from __future__ import annotations

import json

import pytest

from lib.harness.case_helpers import sh
from lib.harness.hostlistener import HOST_ALIAS, HostListener, local_stack

pytestmark = pytest.mark.image("tools")

SCRIPT = """\
import json, sys
from pathlib import Path

numbers = [int(x) for x in Path("numbers.txt").read_text().split()]
report = {"count": len(numbers), "sum": sum(numbers), "squares": sum(n * n for n in numbers)}
Path("report.json").write_text(json.dumps(report))
print(json.dumps(report))
sys.exit(3 if report["count"] == 0 else 0)
"""


async def test_write_and_run_a_python_script(box, e2e_config):
    if e2e_config.stack == "standin":  # e2e/tools sets WorkingDir=/workspace; python's is /
        where = await sh(box, "pwd")
        assert where.stdout.strip() == "/workspace", f"image WorkingDir not applied: {where}"
    setup = await sh(
        box,
        "mkdir -p /workspace/job && cd /workspace/job && seq 1 100 > numbers.txt && "
        f"cat > analyse.py <<'EOF'\n{SCRIPT}EOF\npython3 --version",
    )
    assert setup.exit_code == 0 and setup.stdout.startswith("Python 3"), setup
    ran = await sh(box, "cd /workspace/job && python3 analyse.py")
    assert ran.exit_code == 0, ran
    expected = {"count": 100, "sum": 5050, "squares": 338350}
    assert json.loads(ran.stdout) == expected, ran
    # The script's output file is there for the next exec, as a VM's disk would keep it.
    kept = await sh(box, "cat /workspace/job/report.json")
    assert json.loads(kept.stdout) == expected, kept
    empty = await sh(box, "cd /workspace/job && : > numbers.txt && python3 analyse.py")
    assert empty.exit_code == 3, f"the script's own exit status did not come back: {empty}"


async def test_git_init_commit_and_log_in_the_workspace(box):
    steps = (
        "cd /workspace && git init -q -b main repo && cd repo && "
        "git config user.email e2e@example.invalid && git config user.name e2e && "
        "printf 'hello\\n' > README && git add README && git commit -q -m first && "
        "printf 'world\\n' >> README && git commit -q -am second"
    )
    made = await sh(box, steps)
    assert made.exit_code == 0, made
    log = await sh(box, "cd /workspace/repo && git log --format=%s && git status --porcelain")
    assert log.stdout.splitlines() == ["second", "first"], log
    head = await sh(box, "cd /workspace/repo && git rev-parse HEAD && git show HEAD:README")
    lines = head.stdout.splitlines()
    assert len(lines[0]) == 40 and all(c in "0123456789abcdef" for c in lines[0]), head
    assert lines[1:] == ["hello", "world"], head


async def test_curl_fetches_from_the_host_over_the_box_network(box, e2e_config):
    if not local_stack(e2e_config.api_url):
        pytest.skip("not applicable: the stack is not on this machine (no host listener)")
    async with HostListener() as listener:
        before = listener.connections
        fetched = await sh(
            box,
            f"cd /workspace && curl -fsS --max-time 20 -o fetched.txt "
            f"http://{HOST_ALIAS}:{listener.port}/ && wc -c < fetched.txt && cat fetched.txt",
        )
        assert fetched.exit_code == 0, fetched
        assert listener.token in fetched.stdout, fetched
        assert listener.connections == before + 1, "the listener did not see the fetch"
