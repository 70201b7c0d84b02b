"""One bootstrap or teardown at a time per layout root.

Why this exists: two bootstraps of the same root (a developer's shell and `make
test:e2e:setup`, or two CI steps) would interleave config writes and service restarts. An
advisory lock makes the second one fail at once with a clear message instead; different
roots never contend. The lock file sits beside the run dir, not in it: teardown removes that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lib.errors import HarnessError
from lib.layout import Layout
from lib.processes import LockBusy, exclusive_lock


class Busy(HarnessError):
    """Another bootstrap or teardown holds this root."""


@contextlib.contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """Hold the layout's bootstrap/teardown lock; Busy when another one holds it."""
    path = layout.run_dir.parent / "boxlite-e2e.lock"
    try:
        with exclusive_lock(path):
            yield
    except LockBusy:
        raise Busy(
            f"another bootstrap or teardown is running for root {layout.root} "
            f"(lock {path}); wait for it to finish"
        ) from None
