#!/usr/bin/env python3
"""Snapshots, quota and the credentials profile for a running stack
(see lib/stack/fixture_setup.py).

Thin on purpose: the logic and its tests live in lib/. Run with the harness venv
(`.venv/bin/python fixture_setup.py`) or directly (it re-executes itself under the venv).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / ".venv/bin/python"

if __name__ == "__main__":
    # httpx and tomli-w live in the venv; a bare `./fixture_setup.py` should still work.
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (HERE / ".venv").resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    sys.path.insert(0, str(HERE))
    from lib.stack.fixture_setup import main

    sys.exit(main(sys.argv[1:]))
