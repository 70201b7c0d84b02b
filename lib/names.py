"""The names the harness shares across tiers: the repository root, the stack's service and
binary names, and the timeouts each kind of command gets.

They used to be spelled out wherever they were needed (the repo root five times,
`"boxlite-runner"` five ways, a 120 s and a 3600 s `CMD_TIMEOUT`); one leaf module keeps
them in step. It imports nothing from the rest of `lib/`, so every tier may use it.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
"""This checkout of boxlite-e2e: where `cases/`, `lib/` and the entry-point scripts live."""

API_SERVICE = "boxlite-api"
RUNNER_SERVICE = "boxlite-runner"
REGISTRY_SERVICE = "boxlite-registry"
"""Service (systemd unit / supervisor program) names; the runner's is also its journal unit."""

RUNNER_BINARY = "boxlite-runner"
"""File name of the runner binary bootstrap installs in the layout's bin dir (cloud stack)."""

SERVICE_COMMAND_TIMEOUT_S = 120
"""systemctl / supervisorctl calls: a stop waits for the runner to stop its boxes."""

BUILD_COMMAND_TIMEOUT_S = 3600
"""Build steps (a cold cargo release build is slow); still never unbounded."""
