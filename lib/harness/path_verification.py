"""Prove every box a test created went SDK -> API -> runner, from both hops' logs.

The stand-in and the real stack both log each box on each hop: the API names its own box id
(`box_id=`), the runner names the API's id as the runner-side `name=`. So after a test, every
recorded box id must appear in the API log *and* the runner log. How (history:
docs/history.md):

- both hops are checked;
- cursors are taken before the test and only new lines are read, each line once, with a
  bounded wait for late lines that ends as soon as every id is seen (no 0.3 s sleep-polls,
  no journalctl per box per poll);
- an id matches only as a whole token, so `b1` is not "found" inside `b12`;
- three outcomes, never conflated: ok; "bypassed <hop>" (the log was read, the id is not
  in it); "cannot verify: <hop> log unreadable" (with how to fix it).

The matching lines are kept (size-capped) so a failing test's report can show the log slices
of its own boxes.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lib.harness.logsources import LogSource, LogUnreadable

DEFAULT_DEADLINE = 5.0
DEFAULT_SLICE_CAP = 256 * 1024
# Box ids are [A-Za-z0-9_-]{1,128} (the SDK checks them): a neighbour in that set means the
# id is part of a longer token.
_ID_CHARS = "A-Za-z0-9_-"


class Outcome(enum.Enum):
    """One hop's verdict: every box seen, a box missing (bypassed), or the log unreadable (not
    checked)."""

    OK = "ok"
    BYPASSED = "bypassed"
    UNREADABLE = "cannot verify"


@dataclass
class HopResult:
    """One hop's verdict for a test: the box ids it never logged and the log slice for the failure
    report."""

    hop: str
    source: str
    outcome: Outcome
    missing: tuple[str, ...] = ()
    reason: str = ""
    hint: str = ""
    lines: list[str] = field(default_factory=list)
    truncated: bool = False

    def message(self, deadline: float, names: Mapping[str, str]) -> str:
        """One line for the report: ok, the bypass and its likely cause, or why the hop could not be
        checked."""
        if self.outcome is Outcome.OK:
            return f"{self.hop}: ok"
        if self.outcome is Outcome.UNREADABLE:
            return (
                f"cannot verify: {self.hop} log unreadable ({self.reason}). "
                f"Fix: {self.hint}. The path was NOT checked; this is not a bypass verdict."
            )
        boxes = ", ".join(_label(box_id, names) for box_id in self.missing)
        return (
            f"bypassed {self.hop}: box {boxes} never appeared in the {self.hop} log "
            f"({self.source}) within {deadline:g} s after the test; "
            + _BYPASS_CAUSES.get(self.hop, "")
        )


_BYPASS_CAUSES = {
    "api": (
        "the SDK did not talk to the API: check BOXLITE_E2E_API_URL is the API's base URL "
        "(http://host:3000/api), not the runner, and that the runtime is Boxlite.rest"
    ),
    "runner": (
        "the API did not forward to this runner: check the API's default runner, or that "
        "BOXLITE_E2E_RUNNER_UNIT / BOXLITE_E2E_RUNNER_LOG names the runner actually serving"
    ),
}


def _label(box_id: str, names: Mapping[str, str]) -> str:
    name = names.get(box_id)
    return f"{box_id} ({name})" if name and name != box_id else box_id


@dataclass
class PathResult:
    """Every hop's verdict for one test's boxes, and how long the wait for late lines took."""

    hops: list[HopResult]
    box_ids: tuple[str, ...]
    names: Mapping[str, str]
    deadline: float
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when every hop logged every box."""
        return all(h.outcome is Outcome.OK for h in self.hops)

    @property
    def outcome(self) -> Outcome:
        """Worst outcome: unreadable beats bypassed (we cannot claim a bypass we can't see)."""
        outcomes = {h.outcome for h in self.hops}
        for candidate in (Outcome.UNREADABLE, Outcome.BYPASSED):
            if candidate in outcomes:
                return candidate
        return Outcome.OK

    def message(self) -> str:
        """The single ok line, or one line per hop that is not ok."""
        if self.ok:
            return f"path ok: {len(self.box_ids)} box(es) seen on " + " and ".join(
                h.hop for h in self.hops
            )
        return "\n".join(
            h.message(self.deadline, self.names) for h in self.hops if h.outcome is not Outcome.OK
        )


def id_pattern(box_ids: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the ids as a whole token."""
    alternatives = "|".join(re.escape(i) for i in sorted(set(box_ids), key=len, reverse=True))
    return re.compile(rf"(?<![{_ID_CHARS}])(?:{alternatives})(?![{_ID_CHARS}])")


@dataclass(frozen=True)
class Marks:
    """Cursors taken before a test; an unreadable hop is remembered, not raised."""

    cursors: Mapping[str, object]
    errors: Mapping[str, LogUnreadable]


class PathVerifier:
    """Per-process verifier: one `LogSource` per hop, reused across tests."""

    def __init__(
        self,
        sources: Mapping[str, LogSource],
        *,
        deadline: float = DEFAULT_DEADLINE,
        slice_cap: int = DEFAULT_SLICE_CAP,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sources = dict(sources)
        self.deadline = deadline
        self.slice_cap = slice_cap
        self._clock = clock

    def mark(self) -> Marks:
        """Each hop's cursor before a test; an unreadable hop is kept as its error, not raised."""
        cursors: dict[str, object] = {}
        errors: dict[str, LogUnreadable] = {}
        for hop, source in self.sources.items():
            try:
                cursors[hop] = source.cursor()
            except LogUnreadable as exc:
                errors[hop] = exc
        return Marks(cursors, errors)

    def verify(
        self, marks: Marks, box_ids: Iterable[str], names: Mapping[str, str] | None = None
    ) -> PathResult:
        """Look for `box_ids` in each hop's log since `marks`, waiting for late lines only while
        some readable hop misses one, bounded by `deadline`."""
        ids = tuple(dict.fromkeys(box_ids))
        names = dict(names or {})
        start = self._clock()
        pattern = id_pattern(ids) if ids else None
        state = {hop: _HopState(hop, src, marks, ids) for hop, src in self.sources.items()}

        def read_all() -> None:
            for st in state.values():
                st.read(pattern, self.slice_cap)

        read_all()
        # Wait for late lines only while some readable hop still misses an id; each wait
        # returns as soon as that log changes, and the whole loop is bounded by `deadline`.
        while True:
            waiting = [st for st in state.values() if st.error is None and st.missing]
            remaining = start + self.deadline - self._clock()
            if not waiting or remaining <= 0:
                break
            share = max(remaining / len(waiting), 0.0)
            for st in waiting:
                st.source.wait(st.cursor, min(share, remaining))
            read_all()
        elapsed = self._clock() - start
        hops = [st.result() for st in state.values()]
        return PathResult(hops, ids, names, self.deadline, elapsed)


class _HopState:
    def __init__(self, hop: str, source: LogSource, marks: Marks, ids: tuple[str, ...]):
        self.hop = hop
        self.source = source
        self.error: LogUnreadable | None = marks.errors.get(hop)
        self.cursor = marks.cursors.get(hop)
        self.missing = set(ids)
        self.lines: list[str] = []
        self.size = 0
        self.truncated = False
        self.saw_anything = self.error is None and not source.is_empty(self.cursor)

    def read(self, pattern: re.Pattern[str] | None, cap: int) -> None:
        if self.error is not None:
            return
        try:
            lines, self.cursor = self.source.read(self.cursor)
        except LogUnreadable as exc:
            self.error = exc
            return
        if lines:
            self.saw_anything = True
        if pattern is None:
            return
        for line in lines:
            found = pattern.findall(line)
            if not found:
                continue
            self.missing.difference_update(found)
            if self.size + len(line) + 1 <= cap:
                self.lines.append(line)
                self.size += len(line) + 1
            else:
                self.truncated = True

    def result(self) -> HopResult:
        desc = self.source.description
        if self.error is not None:
            return HopResult(
                self.hop, desc, Outcome.UNREADABLE, reason=self.error.reason, hint=self.error.hint
            )
        if self.missing and not self.saw_anything:
            # Not one line, ever: the source is the wrong one (unit name, path), not a bypass.
            return HopResult(
                self.hop,
                desc,
                Outcome.UNREADABLE,
                missing=tuple(sorted(self.missing)),
                reason=f"{desc}: no log lines at all",
                hint=(
                    "point the harness at the log this service really writes "
                    "(BOXLITE_E2E_RUNNER_UNIT / BOXLITE_E2E_RUNNER_LOG / BOXLITE_E2E_API_LOG)"
                ),
            )
        outcome = Outcome.BYPASSED if self.missing else Outcome.OK
        return HopResult(
            self.hop,
            desc,
            outcome,
            missing=tuple(sorted(self.missing)),
            lines=self.lines,
            truncated=self.truncated,
        )
