#!/usr/bin/env python3
"""Snapshots, quota and the credentials profile for a running stack
(see lib/stack/fixture_setup.py).

Thin on purpose: the logic and its tests live in lib/. Run with the harness venv
(`.venv/bin/python fixture_setup.py`) or directly: it then re-executes itself through
scripts/harness-python.sh, the venv rule every entry point shares.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS_PYTHON = HERE / "scripts/harness-python.sh"

if __name__ == "__main__":
    # httpx and tomli-w live in the venv; a bare `./fixture_setup.py` should still work.
    venv = (HERE / os.environ.get("VENV", ".venv")).resolve()
    if Path(sys.prefix).resolve() != venv and not os.environ.get("BOXLITE_E2E_HARNESS_PYTHON"):
        os.execv(str(HARNESS_PYTHON), [str(HARNESS_PYTHON), __file__, *sys.argv[1:]])
    sys.path.insert(0, str(HERE))
    from lib.stack.fixture_setup import main

    sys.exit(main(sys.argv[1:]))
