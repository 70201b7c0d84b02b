"""Named network faults, their parsing, and the network profiles a whole run can take.

A fault is a word a case (marker `netfault(...)`), a profile or a self-test names; each
parses into one field of a `FaultPlan`, the only thing the proxy reads. Values (`=...`) are
checked here, so a typo is one clear `NetFaultError` before anything starts.

- `transparent`: nothing; bytes pass unchanged (positive controls, overhead benchmark).
- `ws-cut-after-upgrade`: the first attach upgrade of each execution: its 101 is forwarded,
  the server's frames after it are withheld until its exit frame (or close; 10 s at most),
  then the connection is cut: output in flight is lost, the exec has ended when the client
  notices (upstream #627's order of events; later upgrades pass).
- `ws-cut-mid-stream[=BYTES]`: the first attach of each execution: cut after BYTES bytes of
  server frames (default 64), so a still-running exec must be reconnected.
- `latency=MS[,JITTER]`: every chunk, each direction, delivered MS ms (+ uniform 0..JITTER)
  later; order is kept.
- `bandwidth=KBPS`: each direction paced to KBPS kilobytes (1000 B) per second.
- `reset-after-response[=METHODS]`: once a plain (non-upgrade) response to one of METHODS
  (`POST|DELETE`; default any) is delivered, the connection is reset (RST).

Mutants (`mutant=True`): not network conditions a correct client must survive but simulated
*bugs* on the far side of the wire (a server, or a client's retry logic), placed in the proxy
because they only show under a network condition a case marks (a cut, latency, a reset). They
are the failing side of a network case's two-sided proof: a case names one in its `netfault`
mark and pins it (`catches("net:NAME")`); it is never applied under `marked` (a correct client
fails under it by design) and, when `BOXLITE_E2E_NETFAULTS=NAME` selects it, the case keeps
its other marks too (the condition the bug needs; lib.harness.netfault.session.kept).

- `ws-reattach-drops-stdin`: on a re-attach of an execution (any attach after its first),
  the client's binary frames (stdin data) are dropped; text frames (`stdin_eof`) pass. A
  server that loses input across a reconnect (boxlite-e2e/issues#11).
- `ws-reattach-reports-success`: for an execution whose first attach was cut, its status
  responses (`GET .../executions/{id}`) and its re-attaches' frames report `completed` with
  exit code 0 (same-length rewrite). A server that reports a timed-out execution as a success
  after a reconnect (boxlite-e2e/issues#11).
- `ws-exit-overtakes-output`: on every attach, the exit frame is delivered before the last
  output frame that preceded it; the SDK stops reading at the exit frame, so that output is
  lost. boxlite-ai/boxlite#563's reorder, deterministic, where latency widens its window.
- `retry-post-after-reset`: when a POST's response is followed by a reset, the proxy re-sends
  that POST to the API on a new connection (logged as a request): a client that retries a
  non-idempotent create after a reset (boxlite-e2e/issues#11).

`exposes` names the upstream issue a fault makes visible in the SDK, so `known_bug` for that
issue applies exactly while the fault is in force (lib.harness.plugin), on either stack: the
SDK is the same PyPI wheel on both, and the bug is the client's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lib.errors import HarnessError

DEFAULT_MID_STREAM_BYTES = 64
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class NetFaultError(HarnessError, ValueError):
    """A network fault or profile that names nothing known, or has a bad value."""


@dataclass(frozen=True)
class NetFaultSpec:
    """One registered network fault: its word, what it does, the issue it exposes."""

    name: str
    summary: str
    exposes: str | None = None  # upstream issue the fault makes visible, "owner/repo#N"
    takes_value: bool = False
    # A simulated bug, not a network condition: only on its own matrix row (module docstring).
    mutant: bool = False
    models: str | None = None  # a mutant's bug class: upstream issue or this project's


def is_mutant(word: str) -> bool:
    """Whether a fault word names a mutant (unknown words are not: parse() refuses them)."""
    spec = SPECS.get(word.partition("=")[0])
    return spec is not None and spec.mutant


SPECS: dict[str, NetFaultSpec] = {
    s.name: s
    for s in (
        NetFaultSpec("transparent", "no fault: every byte passes unchanged"),
        NetFaultSpec(
            "ws-cut-after-upgrade",
            "the first attach upgrade of each execution is cut right after its 101",
            exposes="boxlite-ai/boxlite#627",
        ),
        NetFaultSpec(
            "ws-cut-mid-stream",
            "the first attach of each execution is cut after BYTES bytes of server frames",
            exposes="boxlite-ai/boxlite#1046",
            takes_value=True,
        ),
        NetFaultSpec(
            "latency", "each chunk, each direction, delayed MS (+ jitter) ms", takes_value=True
        ),
        NetFaultSpec("bandwidth", "each direction paced to KBPS kB/s", takes_value=True),
        NetFaultSpec(
            "reset-after-response",
            "a plain response is delivered, then the connection is reset",
            takes_value=True,
        ),
        NetFaultSpec(
            "ws-reattach-drops-stdin",
            "on a re-attach of an execution, the client's stdin data frames are dropped",
            mutant=True,
            models="boxlite-e2e/issues#11",
        ),
        NetFaultSpec(
            "ws-reattach-reports-success",
            "a cut execution's status and re-attach frames say completed, exit code 0",
            mutant=True,
            models="boxlite-e2e/issues#11",
        ),
        NetFaultSpec(
            "ws-exit-overtakes-output",
            "each attach's exit frame is delivered before the output frame preceding it",
            mutant=True,
            models="boxlite-ai/boxlite#563",
        ),
        NetFaultSpec(
            "retry-post-after-reset",
            "a POST whose response was followed by a reset is re-sent to the API",
            mutant=True,
            models="boxlite-e2e/issues#11",
        ),
    )
}

# Profiles a whole run can take (BOXLITE_E2E_NETWORK_PROFILE): every SDK and raw REST
# request of the catalogue goes through the proxy with these faults.
PROFILES: dict[str, tuple[str, ...]] = {
    "transparent": ("transparent",),
    "wan": ("latency=50,20",),
}


@dataclass(frozen=True)
class FaultPlan:
    """What the proxy applies; the default is transparent."""

    names: tuple[str, ...] = ()  # the fault words as given, canonical, for reports
    ws_cut_after_upgrade: bool = False
    ws_cut_mid_stream: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_kbps: float | None = None
    reset_methods: frozenset[str] | None = None  # empty set: any method
    reattach_drops_stdin: bool = False
    reattach_reports_success: bool = False
    exit_overtakes_output: bool = False
    retry_post_after_reset: bool = False

    @property
    def observes(self) -> bool:
        """Whether a fault acts at HTTP/WebSocket boundaries (the proxy must parse)."""
        return bool(
            self.ws_cut_after_upgrade
            or self.ws_cut_mid_stream is not None
            or self.reset_methods is not None
            or self.reattach_drops_stdin
            or self.reattach_reports_success
            or self.exit_overtakes_output
            or self.retry_post_after_reset
        )

    @property
    def delays(self) -> bool:
        """Whether any chunk is held back (latency, jitter or bandwidth pacing)."""
        return self.latency_ms > 0 or self.jitter_ms > 0 or self.bandwidth_kbps is not None

    @property
    def label(self) -> str:
        """The fault words as one string, for reports."""
        return " ".join(self.names) or "transparent"

    def exposes(self) -> set[str]:
        """Upstream issues this plan's faults make visible in the SDK."""
        return {SPECS[n.partition("=")[0]].exposes for n in self.names} - {None}  # type: ignore[misc]


def _number(name: str, text: str, *, positive: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NetFaultError(f"network fault {name!r}: {text!r} is not a number") from None
    if value < 0 or (positive and value == 0) or value != value:
        raise NetFaultError(f"network fault {name!r}: {text!r} must be > 0")
    return value


def parse(words: list[str] | tuple[str, ...]) -> FaultPlan:
    """Fault words (`latency=50,20`, `ws-cut-after-upgrade`, ...) -> one FaultPlan."""
    plan = FaultPlan()
    names: list[str] = []
    for raw in words:
        word = raw.strip()
        name, sep, value = word.partition("=")
        spec = SPECS.get(name)
        if spec is None:
            known = ", ".join(sorted(SPECS))
            raise NetFaultError(f"unknown network fault {name!r}; known: {known}")
        if sep and not spec.takes_value:
            raise NetFaultError(f"network fault {name!r} takes no value")
        if name == "transparent":
            pass
        elif name == "ws-cut-after-upgrade":
            plan = replace(plan, ws_cut_after_upgrade=True)
        elif name == "ws-cut-mid-stream":
            n = _number(name, value) if sep else DEFAULT_MID_STREAM_BYTES
            if n != int(n):
                raise NetFaultError(f"network fault {name!r}: BYTES must be an integer")
            plan = replace(plan, ws_cut_mid_stream=int(n))
        elif name == "latency":
            if not sep:
                raise NetFaultError("network fault 'latency' needs =MS[,JITTER]")
            ms, _, jitter = value.partition(",")
            plan = replace(
                plan,
                latency_ms=_number(name, ms, positive=False),
                jitter_ms=_number(name, jitter, positive=False) if jitter else 0.0,
            )
        elif name == "bandwidth":
            if not sep:
                raise NetFaultError("network fault 'bandwidth' needs =KBPS")
            plan = replace(plan, bandwidth_kbps=_number(name, value))
        elif name == "reset-after-response":
            methods = frozenset(m.upper() for m in re.split(r"[|+]", value) if m) if sep else ()
            bad = sorted(set(methods) - METHODS)
            if bad:
                raise NetFaultError(f"network fault {name!r}: unknown method(s) {bad}")
            plan = replace(plan, reset_methods=frozenset(methods))
        elif spec.mutant:
            field = name.replace("-", "_").removeprefix("ws_")
            plan = replace(plan, **{field: True})
        names.append(word)
    return replace(plan, names=tuple(names))


def profile(name: str) -> FaultPlan:
    """A named profile (`wan`, `transparent`) or, failing that, a ;-separated fault list."""
    words = PROFILES.get(name)
    if words is None:
        if not name.strip() or name.strip() in ("none", "off"):
            raise NetFaultError(
                f"unknown network profile {name!r}; known: {', '.join(sorted(PROFILES))}, "
                "or a ';'-separated fault list"
            )
        words = tuple(w for w in name.split(";") if w.strip())
    return parse(list(words))
