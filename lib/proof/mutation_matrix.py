"""The mutation matrix: proof that the case catalogue catches each modelled production bug.

A regression case is only worth something if it fails on the bug and passes without it. The
stand-in can inject each bug by name (standin/faults.py), so this module runs the catalogue
(`cases/`) against ONE private stand-in stack:

- once clean: every case must pass (or be not applicable, with its reason); no xfail, no
  xpass, because on the stand-in a `known_bug` only applies while its fault is injected;
- once per fault, after restarting the stand-in with exactly that fault through bootstrap's
  own `services,health` steps (lib.proof.stack_driver.BootstrapControl, the same restart
  two_sided.sh uses): the cases pinned to the fault (their `@pytest.mark.catches(fault)`
  marks, read by lib.proof.pins) must fail, or xfail where a
  `known_bug` applies, and every other case must pass. A case that fails but is not pinned is
  a false alarm, a pinned case that passes is a miss; either fails the matrix. The one
  exception is a *broad* fault: `exec-stdout-drop` drops the tail of every exec's stdout, so
  any case that reads stdout may legitimately catch it; such catches are listed as
  collateral, never hidden;
- once per harness network fault a case catches (`net:NAME`, lib.harness.netfault): the
  stand-in runs clean and the cases run with only that fault of their `netfault` marks; every
  other row (clean included) runs those marks as `transparent`, so the clean row is each
  network case's positive control;
- for racy faults, the pinned cases again over K runs per probability, giving a detection
  rate with a Wilson 95 % interval (seeing a fault of rate p once at confidence c takes
  ceil(ln(1-c)/ln(1-p)) runs).

After every run the stack's box list (through the API) must be empty: zero boxes left.
Per-case outcomes come from each run's JUnit XML, read raw (an xfail is "caught", an
XPASS(strict) is "passed" and then a false alarm of the marker).

`python -m lib.proof.mutation_matrix --help`; `make mutation-matrix` runs the full matrix with
repetitions; the self-test (tests/test_mutation_matrix.py) runs a reduced one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lib import junit, processes
from lib.errors import HarnessError
from lib.harness.netfault import faults as netfaults
from lib.names import REPO_ROOT
from lib.proof.pins import CLIENT_BUGS, Pins, PinsError
from lib.proof.pins import collect as collect_pins
from lib.stack.private_stack import PrivateStack
from lib.stats import wilson_interval
from standin.faults import SPECS

# Faults whose effect every stdout-reading case can see: other catches are collateral.
BROAD = frozenset({"exec-stdout-drop"})
# The probability a racy fault runs at in its full-catalogue row.
ROW_PROBABILITY = {"exec-stdout-drop": 0.2}
DEFAULT_PROBABILITIES = (0.05, 0.2)

# A row's fault is a stand-in fault (SPECS) or a harness network fault, `net:NAME`
# (lib.harness.netfault): the stand-in then runs clean, and the cases run with only that
# network fault of their `netfault` marks (BOXLITE_E2E_NETFAULTS=NAME). Every other row runs
# the cases' network faults as `transparent`, so the clean row is also every network case's
# positive control.
NET = "net:"
NETFAULTS_ENV = "BOXLITE_E2E_NETFAULTS"


def is_network(fault: str | None) -> bool:
    """Whether a row's fault is a harness network fault (`net:NAME`)."""
    return bool(fault) and str(fault).startswith(NET)


def known_fault(fault: str) -> bool:
    """A registered stand-in fault, or `net:` + a registered network fault."""
    return fault in SPECS or (is_network(fault) and fault.removeprefix(NET) in netfaults.SPECS)


def issue_of(fault: str | None) -> str | None:
    """The upstream issue a row's fault models (stand-in) or exposes (network)."""
    if not fault:
        return None
    if is_network(fault):
        spec = netfaults.SPECS[fault.removeprefix(NET)]
        return spec.exposes or spec.models  # a mutant models a bug class, exposes none
    return SPECS[fault].issue


def row_env(fault: str | None) -> dict[str, str]:
    """The environment a row's pytest runs with: which netfault marks apply."""
    return {NETFAULTS_ENV: fault.removeprefix(NET) if is_network(fault) else "transparent"}


def all_faults(pins: Mapping[str, Sequence[str]]) -> list[str]:
    """Every stand-in fault, then every network fault some case catches."""
    return [*SPECS, *sorted(f for f in pins if is_network(f))]


CAUGHT = frozenset({"failed", "error", "xfailed"})
OK = frozenset({"passed"})


# --------------------------------------------------------------------------- evaluation


@dataclass
class Row:
    """One run of the catalogue (or part of it) with a given fault set."""

    label: str  # "clean" or the fault as applied, e.g. "exec-stdout-drop=0.2"
    fault: str | None
    outcomes: dict[str, str]
    boxes_left: int | None = None
    seconds: float = 0.0
    pinned_only: bool = False
    pins: tuple[str, ...] = ()  # the cases that must catch this row's fault
    # SDK-axis cases that strictly xfail for their SDK on every run (a client-side bug of
    # that SDK, `sdk_bug`): expected to xfail here, whatever the fault.
    client_bugs: tuple[str, ...] = ()

    @property
    def caught(self) -> list[str]:
        """Cases that failed, errored or xfailed in this row (the fault showed in them)."""
        return sorted(c for c, o in self.outcomes.items() if o in CAUGHT)

    def problems(self) -> list[str]:
        """Why this row breaks the matrix's promise (empty: it holds)."""
        found: list[str] = []
        if self.boxes_left:
            found.append(f"{self.boxes_left} box(es) left on the stack after the run")
        if not self.outcomes:
            return [*found, "no case ran (empty JUnit)"]
        expected_xfail = set(self.client_bugs)
        for case in sorted(expected_xfail):
            outcome = self.outcomes.get(case)
            if outcome is not None and outcome not in ("xfailed", "skipped"):
                found.append(f"sdk_bug case did not xfail: {case} {outcome} under {self.label}")
        if self.fault is None:
            bad = {
                c: o
                for c, o in self.outcomes.items()
                if o not in OK | {"skipped"} and c not in expected_xfail
            }
            found += [f"clean run: {c} {o}" for c, o in sorted(bad.items())]
            return found
        pins = set(self.pins)
        if not pins:
            found.append(f"fault {self.fault} has no pinned case")
        ran = 0
        for case in sorted(pins):
            outcome = self.outcomes.get(case)
            if outcome is None:
                found.append(f"pinned case did not run: {case}")
            elif outcome == "skipped":
                continue  # not applicable here (e.g. an SDK this host lacks), with its reason
            elif outcome not in CAUGHT:
                found.append(f"missed: {case} {outcome} under {self.label}")
            ran += 1
        if pins and not ran:
            found.append(f"no pinned case of {self.fault} was applicable: none could catch it")
        for case, outcome in sorted(self.outcomes.items()):
            if case in pins or case in expected_xfail:
                continue
            if outcome == "xpassed" or (outcome in CAUGHT and self.fault not in BROAD):
                found.append(f"false alarm: {case} {outcome} under {self.label}")
        return found

    def collateral(self) -> list[str]:
        """Caught cases not pinned to this row's fault (allowed only for broad faults)."""
        pins = set(self.pins)
        return [c for c in self.caught if c not in pins]

    def to_json(self) -> dict:
        """The row for the matrix JSON, its problems included."""
        return {
            "label": self.label,
            "fault": self.fault,
            "issue": issue_of(self.fault),
            "pinned_only": self.pinned_only,
            "caught": self.caught,
            "collateral": self.collateral(),
            "counts": _counts(self.outcomes),
            "boxes_left": self.boxes_left,
            "seconds": round(self.seconds, 1),
            "problems": self.problems(),
        }


@dataclass
class Detection:
    """A racy fault at one probability, its pinned cases over K runs."""

    fault: str
    probability: float
    runs: int = 0
    detected: int = 0
    boxes_left: int = 0
    problems: list[str] = field(default_factory=list)

    def rate(self) -> tuple[float, float, float]:
        """(detection rate, Wilson 95 % low, high) over the K runs."""
        low, high = wilson_interval(self.detected, self.runs)
        return (self.detected / self.runs if self.runs else 0.0), low, high

    def to_json(self) -> dict:
        """The detection for the matrix JSON, rate and interval included."""
        rate, low, high = self.rate()
        return {
            "fault": self.fault,
            "probability": self.probability,
            "runs": self.runs,
            "detected": self.detected,
            "rate": rate,
            "wilson95": [low, high],
            "boxes_left": self.boxes_left,
            "problems": self.problems,
        }


def _counts(outcomes: Mapping[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


def _short(case: str) -> str:
    return case.removeprefix("cases/").replace(".py::", "::")


def render(rows: Sequence[Row], detections: Sequence[Detection], markdown: bool = False) -> str:
    """The matrix as a table: fault -> cases that caught it; then the detection rates."""
    lines: list[str] = []
    if markdown:
        lines += ["| fault | issue | caught by | verdict |", "|---|---|---|---|"]
    for row in rows:
        issue = issue_of(row.fault) or "-"
        if row.fault is None:
            c = _counts(row.outcomes)
            caught = f"nothing ({c.get('passed', 0)} passed, {c.get('skipped', 0)} n/a)"
        else:
            pins = set(row.pins)
            caught = ", ".join(_short(c) for c in row.caught if c in pins) or "NOTHING"
            extra = row.collateral()
            if extra:
                caught += f" (+{len(extra)} collateral)"
        scope = " (pinned cases)" if row.pinned_only else ""
        verdict = "ok" if not row.problems() else f"BROKEN: {len(row.problems())} problem(s)"
        left = "" if row.boxes_left is None else f"; boxes left {row.boxes_left}"
        if markdown:
            lines.append(f"| `{row.label}`{scope} | {issue} | {caught} | {verdict}{left} |")
        else:
            lines.append(f"{row.label + scope:<36} {issue:<24} {verdict}{left}")
            lines.append(f"    caught by: {caught}")
    if detections:
        lines.append("")
        head = "detection rate of the pinned case(s) over repeated runs"
        lines.append(f"**{head}**" if markdown else head + ":")
        if markdown:
            lines += ["", "| fault | P per exec | runs | detected | rate (Wilson 95 %) |"]
            lines.append("|---|---|---|---|---|")
        for d in detections:
            rate, low, high = d.rate()
            text = f"{rate:.0%} [{low:.0%}, {high:.0%}]"
            if markdown:
                lines.append(
                    f"| `{d.fault}` | {d.probability:g} | {d.runs} | {d.detected} | {text} |"
                )
            else:
                lines.append(
                    f"  {d.fault}={d.probability:g}: {d.detected}/{d.runs} runs caught it, {text}"
                )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the stack


class StackError(HarnessError):
    """The private stand-in could not be brought up, restarted or asked."""


class MatrixStack:
    """One private stand-in stack in a temporary root on free loopback ports."""

    def __init__(self, root: Path | None = None, log: Callable[[str], None] = print):
        self.private = PrivateStack.create(
            "boxlite-e2e-matrix-", root=root, strip=("PYTEST_", "BOXLITE_REST_")
        )
        self.root, self.env, self.layout = self.private.root, self.private.env, self.private.layout
        self.log = log
        from lib.proof.stack_driver import BootstrapControl

        self.control = BootstrapControl(REPO_ROOT, self.layout, self.env)

    def _run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(argv),
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def up(self) -> None:
        """Bootstrap the private stand-in with no fault and set its fixtures up."""
        for argv in (
            (str(REPO_ROOT / "bootstrap.sh"), "--stack", "standin", "--fault", "none"),
            (sys.executable, str(REPO_ROOT / "fixture_setup.py")),
        ):
            processes.run(argv, cwd=REPO_ROOT, env=self.env, timeout=300, error=StackError)
        self.log(f"matrix: stand-in up in {self.root} (API {self.layout.api_url})")

    def use(self, faults: list[str], settle: float = 30.0) -> None:
        """Restart with exactly `faults` (bootstrap's services,health steps) and wait until
        the stack reports them: a run must never start on the previous fault set."""
        from lib.proof.stack_driver import DriverError, canonical_faults, switch_faults

        try:
            switch_faults(self.control, canonical_faults(faults), settle)
        except DriverError as exc:
            raise StackError(str(exc)) from None

    def boxes(self) -> list[dict]:
        """Every box the API lists for the org (the stack is private: all of them)."""
        from lib.stack import secrets

        key = secrets.load(self.layout.secrets_file)["ADMIN_API_KEY"]
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=self.layout.api_url, headers=headers, timeout=30) as client:
            prefix = client.get("/v1/me").json()["path_prefix"]
            resp = client.get(f"/v1/{prefix}/boxes" if prefix else "/v1/boxes")
        if resp.status_code != 200:
            raise StackError(f"listing boxes: HTTP {resp.status_code} {resp.text[:200]}")
        return list(resp.json().get("boxes", []))

    def pytest(
        self,
        selection: Sequence[str],
        results: Path,
        workers: int = 0,
        extra_env: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, str], float]:
        """Run cases; per-case outcomes from the JUnit XML, and the wall time."""
        results.mkdir(parents=True, exist_ok=True)
        junit_path = results / "junit.xml"
        argv = [sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider"]
        argv += [f"--junitxml={junit_path}", "-o", "junit_family=xunit2"]
        if workers > 1:
            argv += ["-n", str(workers)]
        env = self.env | dict(extra_env or {}) | {"BOXLITE_E2E_RESULTS_DIR": str(results)}
        started = time.monotonic()
        proc = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - started
        (results / "pytest.out").write_text(proc.stdout + proc.stderr)
        if proc.returncode not in (0, 1) or not junit_path.is_file():
            tail = processes.tail(proc.stdout + proc.stderr)
            raise StackError(f"pytest exited {proc.returncode} (not a test verdict):\n{tail}")
        return junit.read(junit_path.read_text()), took

    def close(self) -> None:
        """Tear the private stack down and delete its root."""
        self.private.close()


# --------------------------------------------------------------------------- the matrix


@dataclass
class Plan:
    """What the matrix runs: which faults, K repeats per probability for racy ones, pinned-only
    or whole-catalogue rows, and the pins."""

    faults: list[str]
    repeat: int = 0  # K runs per probability for racy faults (0: none)
    probabilities: tuple[float, ...] = DEFAULT_PROBABILITIES
    pinned_only: bool = False  # fault rows run only their pinned cases (the reduced matrix)
    workers: int = 2
    pins: Pins = field(default_factory=dict)  # fault -> cases, from lib.proof.pins.collect()
    client_bugs: tuple[str, ...] = ()  # sdk_bug cases (see Row.client_bugs)


def _fault_arg(fault: str) -> str:
    if is_network(fault):
        return fault
    p = ROW_PROBABILITY.get(fault)
    return f"{fault}={p:g}" if p is not None else fault


def run_matrix(stack: MatrixStack, plan: Plan, workdir: Path) -> tuple[list[Row], list[Detection]]:
    """A clean row, one row per fault, then K pinned runs per probability of each racy fault; the
    stack ends with no fault."""
    rows: list[Row] = []
    log = stack.log

    def one(label: str, fault: str | None, selection: Sequence[str], pinned: bool) -> Row:
        work = workdir / label.replace("=", "-").replace(":", "-")
        outcomes, took = stack.pytest(selection, work, plan.workers, row_env(fault))
        pinned_cases = plan.pins.get(fault, ()) if fault else ()
        row = Row(
            label,
            fault,
            outcomes,
            len(stack.boxes()),
            took,
            pinned,
            pinned_cases,
            plan.client_bugs,
        )
        status = "ok" if not row.problems() else "; ".join(row.problems()[:5])
        log(f"matrix: {label:<28} {took:6.1f}s  caught {len(row.caught):3d}  {status}")
        return row

    stack.use([])
    rows.append(one("clean", None, ["cases"], False))
    for fault in plan.faults:
        applied = _fault_arg(fault)
        stack.use([] if is_network(fault) else [applied])
        selection = (
            sorted({c.split("::")[0] for c in plan.pins.get(fault, ())}) if plan.pinned_only else []
        )
        # Pinned-only rows select whole files of the pinned cases: cheap, and a false alarm
        # inside those files still shows.
        rows.append(one(applied, fault, selection or ["cases"], plan.pinned_only))
    detections: list[Detection] = []
    racy = [f for f in plan.faults if f in SPECS and SPECS[f].probabilistic]
    for fault in racy if plan.repeat else ():
        for p in plan.probabilities:
            d = Detection(fault, p)
            stack.use([f"{fault}={p:g}"])
            for k in range(plan.repeat):
                label = f"{fault}-{p:g}-run{k}"
                outcomes, _ = stack.pytest(
                    list(plan.pins[fault]), workdir / label, 0, row_env(fault)
                )
                d.runs += 1
                d.detected += any(outcomes.get(c) in CAUGHT for c in plan.pins[fault])
                left = len(stack.boxes())
                d.boxes_left += left
                missing = [c for c in plan.pins[fault] if c not in outcomes]
                d.problems += [f"{label}: pinned case did not run: {c}" for c in missing]
                if left:
                    d.problems.append(f"{label}: {left} box(es) left on the stack")
            rate, low, high = d.rate()
            interval = f"[{low:.0%}, {high:.0%}]"
            log(f"matrix: {fault}={p:g}: {d.detected}/{d.runs} ({rate:.0%}, {interval})")
            detections.append(d)
    stack.use([])
    return rows, detections


def problems(rows: Iterable[Row], detections: Iterable[Detection]) -> list[str]:
    """Every broken promise of the matrix: misses, false alarms, leftover boxes, unrun pins."""
    found = [p for r in rows for p in r.problems()]
    return found + [p for d in detections for p in d.problems]


def main(argv: list[str] | None = None) -> int:
    """CLI: run the matrix on a private stand-in and print it; 0 clean, 1 broken, 2 bad input,
    125 the stack could not run."""
    ap = argparse.ArgumentParser(
        prog="python -m lib.proof.mutation_matrix",
        description="Run the case catalogue clean and once per stand-in or network fault; "
        "print the matrix.",
    )
    ap.add_argument(
        "--faults",
        default="all",
        help="comma list of faults: stand-in names, net:NAME for network faults (default: all)",
    )
    ap.add_argument(
        "--repeat", type=int, default=20, help="K runs per probability for racy faults (0: none)"
    )
    ap.add_argument(
        "--probabilities",
        default=",".join(f"{p:g}" for p in DEFAULT_PROBABILITIES),
        help="racy fault probabilities for the repeated runs",
    )
    ap.add_argument("--pinned-only", action="store_true", help="fault rows run pinned files only")
    ap.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (0/1: serial)")
    ap.add_argument("--json", type=Path, help="write the matrix as JSON here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (JUnit, outputs)")
    args = ap.parse_args(argv)
    try:
        pinmap = collect_pins()
        client_bugs = pinmap.pop(CLIENT_BUGS, ())
    except PinsError as exc:
        print(f"mutation matrix: cannot read the pins: {exc}", file=sys.stderr)
        return 2
    every = all_faults(pinmap)
    faults = every if args.faults == "all" else [f.strip() for f in args.faults.split(",")]
    unknown = [f for f in faults if not known_fault(f)]
    if unknown:
        print(f"mutation matrix: unknown fault(s) {unknown}; known: {every}", file=sys.stderr)
        return 2
    plan = Plan(
        faults=faults,
        repeat=max(0, args.repeat),
        probabilities=tuple(float(p) for p in args.probabilities.split(",") if p.strip()),
        pinned_only=args.pinned_only,
        workers=args.workers,
        pins=pinmap,
        client_bugs=tuple(client_bugs),
    )
    workdir = Path(tempfile.mkdtemp(prefix="boxlite-e2e-matrix-work-"))
    stack = MatrixStack()
    started = time.monotonic()
    try:
        stack.up()
        rows, detections = run_matrix(stack, plan, workdir)
    except StackError as exc:
        print(f"mutation matrix: cannot run: {exc}", file=sys.stderr)
        return 125
    finally:
        stack.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    found = problems(rows, detections)
    print(f"\nmutation matrix (stack: standin, {time.monotonic() - started:.0f} s)")
    print(render(rows, detections, markdown=args.markdown))
    if args.keep:
        print(f"work dir: {workdir}")
    if args.json:
        doc = {
            "rows": [r.to_json() for r in rows],
            "detections": [d.to_json() for d in detections],
            "problems": found,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    for problem in found:
        print(f"PROBLEM: {problem}")
    print("mutation matrix: " + ("complete, no misses, no false alarms" if not found else "BROKEN"))
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main())
