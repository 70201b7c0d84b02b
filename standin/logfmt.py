"""One-line event logging for the stand-in runner and API.

Path verification greps these lines for box ids, so each event is a single line:
`<RFC3339 UTC ms> component=<c> event=<e> key=value ...`. Values with spaces or quotes are
quoted. Flushed per line so a reader tailing the file or journal sees it at once.
"""

from __future__ import annotations

import datetime as _dt
import sys
import threading
from typing import TextIO


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def format_event(component: str, event: str, fields: dict[str, object]) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    parts = [now, f"component={component}", f"event={event}"]
    parts += [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


class EventLog:
    """Writes events to a file (append, line-buffered) or to stderr."""

    def __init__(self, component: str, path: str | None = None):
        self.component = component
        self._lock = threading.Lock()
        self._stream: TextIO = open(path, "a", buffering=1) if path else sys.stderr  # noqa: SIM115

    def event(self, event: str, **fields: object) -> None:
        line = format_event(self.component, event, fields)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._stream is not sys.stderr:
            self._stream.close()
