"""The one base class of the harness's own errors.

Why: every error the harness raises on purpose carries a message written for the user (what
went wrong and what to do), and every entry point prints it as one line with a non-zero exit
instead of a traceback. One base class lets an entry point (and a test) tell "the harness
refused, with a reason" from a bug in the harness: catch `HarnessError`, let anything else
surface. It derives from RuntimeError so existing `except RuntimeError` handlers still hold.
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """An error the harness raised on purpose; its message is for the user, as is."""
