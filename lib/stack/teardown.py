"""Take a stack down, in three depths; idempotent, and only inside the layout's roots.

Why this exists: a teardown must remove exactly this stack's files and say what it removed
(history: docs/history.md). Every path comes from lib.layout, each mode's promise is
explicit, and the report lists what went:

- basic: stop and remove every `boxlite-*` service of this layout (API, runner, registry,
  Postgres, Redis) and our supervisord, the env files, generated configs, the stack record,
  installed binaries, and the `apps/apps` link bootstrap made in the recorded checkout.
  Keeps: data (state dir), secrets, logs.
- `--wipe-data`: also the state dir: the database cluster, Redis data, registry storage, box
  state and image caches. Keeps: secrets, logs.
- `--full`: also the secrets file, so the next bootstrap mints new keys. Keeps: logs.
Logs are never removed (they are evidence), nor are host packages and toolchains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from lib.layout import Layout
from lib.names import RUNNER_BINARY
from lib.stack.bootstrap import lock
from lib.stack.services import PREFIX, ServiceError, SupervisorManager, manager_for


def _remove(path: Path, emit: Callable[[str], None]) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
        emit(f"removed {path}")
    elif path.is_dir():
        shutil.rmtree(path)
        emit(f"removed {path}/")


def _recorded_repo(layout: Layout) -> Path | None:
    try:
        repo = json.loads((layout.config_dir / "stack.json").read_text()).get("repo")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return Path(repo) if repo else None


def teardown(layout: Layout, mode: str, emit: Callable[[str], None] = print) -> None:
    """Remove the layout's services and generated files; `wipe-data` also the state dir, `full`
    also the secrets."""
    manager = manager_for(layout)
    names = [n for n in manager.installed() if n.startswith(PREFIX)]
    for name in manager.remove(names):
        emit(f"stopped and removed service {name} ({manager.kind})")
    if isinstance(manager, SupervisorManager) and manager.shutdown_if_idle():
        emit("stopped this layout's supervisord")
    repo = _recorded_repo(layout)
    if repo is not None and (repo / "apps/apps").is_symlink():
        _remove(repo / "apps/apps", emit)
    for path in (
        layout.env_file,
        layout.runner_env_file,
        layout.config_dir,
        layout.bin_dir / RUNNER_BINARY,
        layout.run_dir,
    ):
        _remove(path, emit)
    if mode in ("wipe-data", "full"):
        _remove(layout.state_dir, emit)
    if mode == "full":
        _remove(layout.secrets_file, emit)


def main(argv: list[str]) -> int:
    """CLI of teardown.sh: tear down under the layout lock and say what was kept."""
    parser = argparse.ArgumentParser(
        prog="teardown.sh",
        description="Take this layout's BoxLite stack down.",
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--wipe-data", action="store_true", help="also drop data (state dir)")
    group.add_argument("--full", action="store_true", help="also delete the secrets file")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "wipe-data" if args.wipe_data else "basic"
    layout = Layout.from_env()
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        print(f"teardown: {line}")

    try:
        with lock.exclusive(layout):
            teardown(layout, mode, emit)
    except lock.Busy as exc:
        print(f"teardown: {exc}", file=sys.stderr)
        return 1
    except (ServiceError, OSError) as exc:
        print(f"teardown: failed: {exc}", file=sys.stderr)
        return 1
    kept = {"basic": "data, secrets, logs", "wipe-data": "secrets, logs", "full": "logs"}[mode]
    done = "nothing left to remove" if not lines else f"{len(lines)} item(s) removed"
    print(f"teardown ({mode}, root {layout.root}): {done}; kept: {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
