"""CLI detach recovery: a detached box survives its CLI process, and later CLIs drive it.

Ported from upstream's e2e case `test_cli_detach_recovery.py`: each step is a
separate `boxlite` CLI process (`run -d`, `ls`, `exec`, `rm -f`), so nothing survives in a
client between steps except what the server holds. Upstream's exec step was a strict xfail
for boxlite-ai/boxlite#563 (stdout dropped), which has since been fixed; here the marker must
arrive. Needs the `boxlite` CLI (`needs("cli")`): where there is none (the stand-in has no
CLI) the case is reported not applicable, with the reason, never silently passed.
The box the CLI creates is adopted into the run's ledger, so it is path-verified and removed
even if a step fails.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

CLI_TIMEOUT_S = 120


def _cli(cfg, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        {
            "BOXLITE_REST_URL": cfg.api_url,
            "BOXLITE_API_KEY": cfg.api_key,
            "BOXLITE_REST_PATH_PREFIX": cfg.prefix,
        }
    )
    return subprocess.run(
        [cfg.cli, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.needs("cli")
def test_detached_box_is_driven_by_later_cli_processes(e2e_config, e2e):
    name = e2e.ledger.new_name()
    run = _cli(e2e_config, "run", "-d", "--name", name, e2e_config.image, "--", "sleep", "300")
    assert run.returncode == 0, run.stdout + run.stderr
    box_id = (re.findall(r"[A-Za-z0-9_-]{8,}", run.stdout) or [name])[-1]
    e2e.ledger.adopt(box_id, name, route="cli")
    try:
        listed = _cli(e2e_config, "ls")
        assert listed.returncode == 0 and name in listed.stdout, listed.stdout + listed.stderr

        alive = _cli(e2e_config, "exec", name, "--", "echo", "still-alive")
        assert alive.returncode == 0, alive.stdout + alive.stderr
        assert "still-alive" in alive.stdout, alive.stdout

        failing = _cli(e2e_config, "exec", name, "--", "sh", "-c", "exit 5")
        assert failing.returncode == 5, failing.stdout + failing.stderr
    finally:
        removed = _cli(e2e_config, "rm", "-f", name)
        if removed.returncode == 0:
            e2e.ledger.mark_removed(name)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    after = _cli(e2e_config, "ls")
    assert name not in after.stdout, after.stdout
