"""What a run leaves behind under `results/`, and the summary printed at its end.

A run must leave machine-readable results, evidence per failure, and say aloud what it
skipped or leaked (history: docs/history.md):

- `junit.xml` comes from pytest's own `--junitxml` (the plugin defaults its path);
- each failing test gets `failures/<test>/` with its report, its boxes and the runner and API
  log lines naming those boxes, each slice capped (256 KiB), like Firecracker's per-test
  `results_dir` and libkrun's capped CI summaries;
- `summary.json` plus a printed summary: stack, SDK version, stack faults and versions,
  counts, known bugs still open (and those not active on this stack, which therefore had to
  pass), not-applicable cases with their reasons, leaked boxes and failed removals.

Per-test facts travel in `report.user_properties` (JSON strings) because that is what
pytest-xdist ships from workers to the controller, which alone writes the summary.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from standin import atomicfile

FAILURES_DIR = "failures"
SESSION_FILES = "session-*.json"
SLICE_CAP = 256 * 1024
REPORT_CAP = 256 * 1024

# user_properties keys (values are JSON strings)
PROP_KNOWN_BUG = "e2e_known_bug"  # {"issue":..., "active": bool}
PROP_BOXES = "e2e_boxes"  # [{"box_id","name","route"}]
PROP_LEAKED = "e2e_leaked"  # [{"box_id","name","route"}] removed by the harness
PROP_REMOVAL_FAILED = "e2e_removal_failed"  # [{"box_id","name","error"}]
PROP_PATH = "e2e_path"  # {"outcome","message"}
PROP_SDK = "e2e_sdk"  # "python" | "node" | "go": the SDK an axis case ran through
# Per-SDK outcome of one case, worst first (a failing teardown beats a passing call).
SDK_OUTCOMES = ("failed", "error", "xpassed", "xfailed", "not applicable", "passed")


DRIVERS_DIR = "drivers"  # SDK driver logs (lib.harness.sdk.driver), one per SDK and worker


def prepare(results_dir: Path, run_id: str | None = None) -> None:
    """Make `results/` this run's, never the last one's, before anything else happens.

    First `summary.json` is replaced, atomically, by a record saying this run is under way
    (so a run killed by SIGKILL leaves "running, pid N", never the previous green summary),
    then the previous run's JUnit, failure folders, session files and driver logs are removed
    (the last two are appended to during a run, so a stale one would mix two runs).
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    write_summary(
        results_dir,
        {
            "status": "running",
            "run_id": run_id,
            "pid": os.getpid(),
            "started_at": _now(),
            "note": "written at start; replaced when the run ends (still here: it was killed)",
        },
    )
    (results_dir / "junit.xml").unlink(missing_ok=True)
    shutil.rmtree(results_dir / FAILURES_DIR, ignore_errors=True)
    shutil.rmtree(results_dir / DRIVERS_DIR, ignore_errors=True)
    for stale in results_dir.glob(SESSION_FILES):
        stale.unlink(missing_ok=True)


def write_not_started(results_dir: Path, *, exit_status: int, reason: str) -> Path:
    """The summary of a run that stopped before any case ran (bad config, API down)."""
    prepare(results_dir)
    return write_summary(
        results_dir,
        {
            "status": "not started",
            "exit_status": exit_status,
            "reason": reason,
            "finished_at": _now(),
            "counts": dict.fromkeys(COUNT_KEYS, 0),
        },
    )


def _now() -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def safe_name(nodeid: str, limit: int = 120) -> str:
    """A readable, unique, filesystem-safe folder name for a test id."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    digest = hashlib.sha1(nodeid.encode()).hexdigest()[:8]
    return f"{readable[:limit]}-{digest}"


def _capped(text: str, cap: int) -> str:
    data = text.encode("utf-8", errors="replace")
    if len(data) <= cap:
        return text
    note = f"\n[... truncated: {len(data) - cap} more bytes ...]\n"
    return data[: cap - len(note)].decode("utf-8", errors="ignore") + note


def write_failure_dir(
    results_dir: Path,
    nodeid: str,
    phases: Mapping[str, Any],
    *,
    boxes: Sequence[Mapping[str, Any]] = (),
    slices: Mapping[str, Sequence[str]] | None = None,
    truncated: Mapping[str, bool] | None = None,
    driver_logs: Mapping[str, Sequence[str]] | None = None,
    cap: int = SLICE_CAP,
) -> Path:
    """Write `failures/<test>/`: report.txt, boxes.json, <hop>.log per hop, and
    driver-<sdk>.log per SDK driver running in this process (its lines during the test)."""
    folder = results_dir / FAILURES_DIR / safe_name(nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"test: {nodeid}"]
    for when in ("setup", "call", "teardown"):
        rep = phases.get(when)
        if rep is None:
            continue
        lines.append(f"\n=== {when}: {rep.outcome} ({getattr(rep, 'duration', 0):.3f} s)")
        if rep.longrepr is not None and rep.outcome != "passed":
            lines.append(str(rep.longreprtext if hasattr(rep, "longreprtext") else rep.longrepr))
        for section, content in getattr(rep, "sections", []):
            lines.append(f"--- {section} ---\n{content}")
    (folder / "report.txt").write_text(_capped("\n".join(lines) + "\n", REPORT_CAP))
    (folder / "boxes.json").write_text(json.dumps(list(boxes), indent=2) + "\n")
    for hop, hop_lines in (slices or {}).items():
        text = "\n".join(hop_lines) + ("\n" if hop_lines else "")
        if truncated and truncated.get(hop):
            text += "[... more lines named these boxes; slice capped ...]\n"
        if not hop_lines:
            text = f"(no {hop} log line named this test's boxes)\n"
        (folder / f"{hop}.log").write_text(_capped(text, cap))
    for sdk, log_lines in (driver_logs or {}).items():
        text = "\n".join(log_lines) + "\n" if log_lines else "(the driver logged nothing)\n"
        (folder / f"driver-{sdk}.log").write_text(_capped(text, cap))
    return folder


def props(report: Any) -> dict[str, Any]:
    """The e2e user_properties of a report, JSON-decoded."""
    out: dict[str, Any] = {}
    for key, value in getattr(report, "user_properties", ()):
        if isinstance(key, str) and key.startswith("e2e_"):
            try:
                out[key] = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                out[key] = value
    return out


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


COUNT_KEYS = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def build_summary(
    *,
    stats: Mapping[str, Iterable[Any]],
    config: Mapping[str, Any],
    sdk_version: str,
    run_id: str,
    exit_status: int | None,
    duration_s: float,
    session_files: Iterable[Path] = (),
    stack_boxes: Mapping[str, Any] | None = None,
    run_end: Mapping[str, Any] | None = None,
    sdks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run summary as a JSON-ready dict, from pytest's own stats and our properties.

    `stack_boxes`: what the API lists after the run (`{"checked", "left", "listed",
    "error"}`, see lib.harness.plugin.stack_leftovers); None when it was not asked.
    """
    # Passed setup/teardown reports sit under "" in pytest's stats; they carry teardown facts
    # (leaks, path verdicts), so every category is scanned, but only COUNT_KEYS are counted.
    reports = {
        key: [r for r in reps if hasattr(r, "when") and hasattr(r, "nodeid")]
        for key, reps in stats.items()
    }
    counts = {key: len(reports.get(key, [])) for key in COUNT_KEYS}

    known_open, known_inactive, not_applicable = [], [], []
    leaked, removal_failed, path_problems = [], [], []
    seen_inactive: set[str] = set()
    for key, reps in reports.items():
        for rep in reps:
            p = props(rep)
            bug = p.get("e2e_known_bug")
            if bug and key == "xfailed":
                known_open.append({"test": rep.nodeid, "issue": bug.get("issue")})
            elif bug and not bug.get("active") and rep.nodeid not in seen_inactive:
                decisive = rep.when == "call" or key in ("error", "skipped")
                if decisive:
                    seen_inactive.add(rep.nodeid)
                    known_inactive.append(
                        {"test": rep.nodeid, "issue": bug.get("issue"), "outcome": key}
                    )
            if key == "skipped":
                not_applicable.append({"test": rep.nodeid, "reason": _skip_reason(rep)})
            for box in p.get(PROP_LEAKED, []):
                leaked.append({"test": rep.nodeid, **box})
            for box in p.get(PROP_REMOVAL_FAILED, []):
                removal_failed.append({"test": rep.nodeid, **box})
            path = p.get(PROP_PATH)
            if path and path.get("outcome") != "ok":
                path_problems.append({"test": rep.nodeid, **path})

    for session_file in session_files:
        try:
            doc = json.loads(Path(session_file).read_text())
        except (OSError, ValueError):
            continue
        for box in doc.get("leaked", []):
            leaked.append({"test": "(session)", **box})
        for box in doc.get("removal_failed", []):
            removal_failed.append({"test": "(session)", **box})

    end = dict(run_end or {})
    return {
        # complete | interrupted (signal, boxes removed by the cleanup) | see run_end
        "status": end.get("status", "complete"),
        "run_end": end,
        "finished_at": _now(),
        "stack": config.get("stack"),
        "sdk": {"package": "boxlite", "version": sdk_version},
        "run_id": run_id,
        "api_url": config.get("api_url"),
        "prefix": config.get("prefix"),
        "image": config.get("image"),
        "stack_faults": config.get("faults", []),
        "stack_versions": config.get("versions", {}),
        "path_verification": "skipped (BOXLITE_E2E_SKIP_PATH_VERIFY)"
        if config.get("skip_path_verify")
        else "on",
        "runner_log": config.get("runner_log"),
        "api_log": config.get("api_log"),
        "counts": counts,
        "exit_status": exit_status,
        "duration_s": round(duration_s, 3),
        "known_bugs_open": known_open,
        "known_bugs_not_active": known_inactive,
        "not_applicable": not_applicable,
        "path_problems": path_problems,
        "leaked_boxes": leaked,
        "removal_failures": removal_failed,
        "stack_boxes_left": dict(stack_boxes) if stack_boxes is not None else None,
        "network": {
            "profile": config.get("network_profile"),
            "case_netfaults": config.get("case_netfaults", "marked"),
            "text": network_text(config),
        },
        "config_sources": config.get("sources", {}),
        "sdks": dict(sdks or {}),
        "sdk_axis": sdk_axis(reports),
    }


def network_text(config: Mapping[str, Any]) -> str:
    """One line: which network profile was in force, and which case network faults."""
    profile = config.get("network_profile")
    which = config.get("case_netfaults", "marked")
    head = (
        f"profile {profile} (every runtime and raw client through the netfault proxy)"
        if profile
        else "profile none (straight to the API)"
    )
    return f"{head}; case netfault marks: {which}"


def axis_case(nodeid: str, sdk: str) -> str:
    """`cases/x.py::test_y[node-42]` -> `cases/x.py::test_y[42]` (the SDK's id removed)."""
    head, sep, params = nodeid.partition("[")
    if not sep:
        return nodeid
    rest = [p for p in params.rstrip("]").split("-") if p != sdk]
    return head + (f"[{'-'.join(rest)}]" if rest else "")


def sdk_axis(reports: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """{"cases": {case: {sdk: outcome}}, "totals": {sdk: {outcome: n}}} for axis cases."""
    cases: dict[str, dict[str, str]] = {}
    for key, reps in reports.items():
        for rep in reps:
            sdk = props(rep).get(PROP_SDK)
            if not isinstance(sdk, str):
                continue
            if key == "skipped":
                outcome = "not applicable"
            elif key in ("failed", "error", "xfailed", "xpassed"):
                outcome = "error" if key == "failed" and rep.when != "call" else key
            elif key == "passed" and rep.when == "call":
                outcome = "passed"
            else:
                continue
            row = cases.setdefault(axis_case(rep.nodeid, sdk), {})
            old = row.get(sdk)
            if old is None or SDK_OUTCOMES.index(outcome) < SDK_OUTCOMES.index(old):
                row[sdk] = outcome
    totals: dict[str, dict[str, int]] = {}
    for row in cases.values():
        for sdk, outcome in row.items():
            bucket = totals.setdefault(sdk, {})
            bucket[outcome] = bucket.get(outcome, 0) + 1
    return {"cases": dict(sorted(cases.items())), "totals": totals}


def sdk_table(
    summary: Mapping[str, Any], sdks: Sequence[str] = ("python", "node", "go")
) -> list[str]:
    """The per-SDK table of a run (markdown), from summary.json's `sdk_axis`."""
    axis = summary.get("sdk_axis") or {}
    cases = axis.get("cases") or {}
    lines = ["| case | " + " | ".join(sdks) + " |", "|---|" + "---|" * len(sdks)]
    for case, row in cases.items():
        short = case.split("::", 1)[-1]
        module = case.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
        cells = [row.get(sdk, "-") for sdk in sdks]
        lines.append(f"| {module}::{short} | " + " | ".join(cells) + " |")
    totals = axis.get("totals") or {}
    lines.append(
        "| **total** | "
        + " | ".join(
            ", ".join(f"{n} {k}" for k, n in sorted(totals.get(sdk, {}).items())) or "-"
            for sdk in sdks
        )
        + " |"
    )
    return lines


def write_summary(results_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write summary.json atomically into `results_dir`; returns its path."""
    path = results_dir / "summary.json"
    atomicfile.write_text(path, json.dumps(summary, indent=2, default=_jsonable) + "\n")
    return path


def render(summary: Mapping[str, Any]) -> list[str]:
    """Human lines for the terminal (no secrets: the summary never holds any)."""
    counts = summary["counts"]
    faults = summary.get("stack_faults") or []
    fault_text = (
        ", ".join(
            f"{f['name']}({f.get('issue') or '-'}, p={f.get('probability', 1)})" for f in faults
        )
        or "none"
    )
    versions = summary.get("stack_versions") or {}
    end = summary.get("run_end") or {}
    lines = [
        f"run status: {summary.get('status', 'complete')}"
        + (f" ({end['reason']})" if end.get("reason") else "")
        + f"  exit status: {summary.get('exit_status')}",
        f"stack: {summary['stack']}  api: {summary['api_url']}  prefix: {summary['prefix']!r}",
        f"sdk: boxlite {summary['sdk']['version']}  run: {summary['run_id']}  "
        f"image: {summary['image']}",
        f"stack faults: {fault_text}",
        "stack versions: " + (json.dumps(versions, sort_keys=True) if versions else "unknown"),
        f"path verification: {summary['path_verification']}",
        f"network: {(summary.get('network') or {}).get('text', 'profile none')}",
        "counts: " + ", ".join(f"{k} {counts[k]}" for k in COUNT_KEYS),
    ]

    def section(title: str, items: list[Mapping[str, Any]], fmt) -> None:
        lines.append(f"{title}: {len(items) if items else 'none'}")
        lines.extend(f"  {fmt(item)}" for item in items)

    section(
        "known bugs still open", summary["known_bugs_open"], lambda i: f"{i['issue']}  {i['test']}"
    )
    section(
        "known bugs not active on this stack (must pass)",
        summary["known_bugs_not_active"],
        lambda i: f"{i['issue']}  {i['test']}  -> {i['outcome']}",
    )
    section("not applicable", summary["not_applicable"], lambda i: f"{i['test']}: {i['reason']}")
    section(
        "path problems",
        summary["path_problems"],
        lambda i: f"{i['test']}: {i['message'].splitlines()[0]}",
    )
    section(
        "leaked boxes (removed by the harness)",
        summary["leaked_boxes"],
        lambda i: f"{i['box_id']} ({i.get('name')}, via {i.get('route')}) in {i['test']}",
    )
    stack = summary.get("stack_boxes_left")
    if stack is None:
        lines.append("boxes left on the stack by this run: not checked")
    elif not stack.get("checked"):
        lines.append(f"boxes left on the stack by this run: not checked ({stack.get('error')})")
    else:
        left = stack.get("left") or []
        lines.append(
            f"boxes left on the stack by this run: {len(left)} "
            f"(API list after the run: {stack.get('listed')} box(es) in the org)"
        )
        lines.extend(f"  {b.get('box_id')} ({b.get('name')}, {b.get('status')})" for b in left)
        lines.extend(_leftover_detail(stack))
    sweep = end.get("start_sweep")
    if sweep:
        lines.append(
            f"sweep at start: removed {len(sweep.get('removed', []))} box(es) of dead runs; "
            f"left alone {len(sweep.get('live', []))} of live runs, "
            f"{len(sweep.get('foreign', []))} foreign"
            + (f" (not done: {sweep['error']})" if sweep.get("error") else "")
        )

    axis = summary.get("sdk_axis") or {}
    if axis.get("cases"):
        lines.append(f"sdk axis: {len(axis['cases'])} case(s)")
        for sdk, info in (summary.get("sdks") or {}).items():
            counts_text = ", ".join(
                f"{n} {k}" for k, n in sorted((axis.get("totals") or {}).get(sdk, {}).items())
            )
            where = info.get("version") or "-"
            why = "" if info.get("available") else f"  (not applicable: {info.get('reason')})"
            lines.append(f"  {sdk:<6} {where:<8} {counts_text or 'no cases'}{why}")
    section(
        "box removal failures",
        summary["removal_failures"],
        lambda i: f"{i['box_id']} ({i.get('name')}) in {i['test']}: {i.get('error')}",
    )
    return lines


LEFTOVER_KINDS = (
    ("removed_by_cleanup", "removed by the interrupt cleanup"),
    ("removed_in_flight", "removed (removal was in flight at the end)"),
    ("still_removing", "still removing after the wait"),
    ("stranded", "stranded (left by the run; removed by the final check)"),
    ("removal_failed", "stranded and could not be removed"),
    ("unattributed", "created in the org during the run without the run's name (untouched)"),
)


def _leftover_detail(stack: Mapping[str, Any]) -> list[str]:
    """The exact leftover check's categories (lib.harness.runguard.final_check)."""
    out = []
    for key, label in LEFTOVER_KINDS:
        items = stack.get(key) or []
        if items:
            out.append(f"  {label}: {len(items)}")
            out.extend(f"    {b.get('box_id')} ({b.get('name')})" for b in items)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lib.harness.reports [results/summary.json]`: the run's per-SDK table."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else Path("results") / "summary.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"reports: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    sdks = doc.get("sdks") or {}
    print(
        f"stack: {doc.get('stack')}, run {doc.get('run_id')}; SDKs: "
        + ", ".join(
            f"{name} {info.get('version') or 'not applicable'}" for name, info in sdks.items()
        )
    )
    print()
    print("\n".join(sdk_table(doc)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
