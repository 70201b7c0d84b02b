"""`python -m lib.stack.bootstrap --stack cloud|standin ...`: argument parsing and the exit code.

Every path and port comes from lib.layout (BOXLITE_E2E_ROOT, BOXLITE_E2E_*_PORT), so the
self-tests run a whole second stack in a temporary root on free ports.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lib.layout import Layout
from lib.stack import preflight
from lib.stack.bootstrap import lock, plan
from lib.stack.bootstrap.context import Context, Options
from lib.stack.services import ServiceError, manager_for
from standin.faults import FaultError, parse_faults


def parser() -> argparse.ArgumentParser:
    """The command line of bootstrap.sh; the epilog lists each stack's steps."""
    p = argparse.ArgumentParser(
        prog="bootstrap.sh",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Bring a BoxLite stack up on this host, idempotently.",
        epilog="steps, in order:\n"
        + "\n".join(f"  {s:<8} {','.join(plan.step_names(s))}" for s in sorted(plan.STEPS))
        + "\nroots and ports: BOXLITE_E2E_ROOT, BOXLITE_E2E_{API,RUNNER,REGISTRY,POSTGRES,"
        "REDIS}_PORT",
    )
    p.add_argument("--stack", required=True, choices=sorted(plan.STEPS))
    p.add_argument("--repo", type=Path, help="BoxLite checkout (cloud stack)")
    p.add_argument("--only", help="comma-separated steps to run (in the stack's order)")
    p.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    p.add_argument(
        "--preflight",
        action="store_true",
        help="cloud: check checkout, host, toolchains, disk, ports and /dev/kvm; change nothing",
    )
    p.add_argument(
        "--fault",
        action="append",
        metavar="NAME[=P]",
        help="stand-in fault (repeatable; `none` clears; omitted: keep the last)",
    )
    p.add_argument(
        "--sdk-from-pypi",
        action="store_true",
        help="cloud: install the PyPI SDK wheel instead of building the checkout's",
    )
    return p


def _ours(layout: Layout):
    """service name -> is our own service running (a port it holds is not a conflict)."""
    try:
        manager = manager_for(layout)
    except (ValueError, ServiceError):
        return lambda _name: False

    def ours(name: str) -> bool:
        try:
            return manager.status(name) in ("running", "starting")
        except (ServiceError, OSError):
            return False

    return ours


def main(argv: list[str]) -> int:
    """CLI of bootstrap.sh: check the arguments, then run the plan under the layout lock (root
    needed unless `--dry-run`)."""
    args = parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    unknown = sorted(set(only or []) - set(plan.step_names(args.stack)))
    if unknown:
        print(
            f"bootstrap: unknown step(s) for {args.stack}: {', '.join(unknown)}; "
            f"known: {', '.join(plan.step_names(args.stack))}",
            file=sys.stderr,
        )
        return 2
    if args.fault is not None:
        if args.stack != "standin":
            print("bootstrap: --fault applies to the stand-in stack only", file=sys.stderr)
            return 2
        try:
            parse_faults(args.fault)
        except FaultError as exc:
            print(f"bootstrap: {exc}", file=sys.stderr)
            return 2
    if args.preflight:
        if args.stack != "cloud":
            print("bootstrap: --preflight checks the cloud stack (--stack cloud)", file=sys.stderr)
            return 2
        try:
            layout = Layout.from_env()
        except ValueError as exc:
            print(f"bootstrap: {exc}", file=sys.stderr)
            return 2
        return preflight.run(layout, args.repo.resolve() if args.repo else None, ours=_ours(layout))
    if not args.dry_run and os.geteuid() != 0:
        print(
            "bootstrap: run as root (it installs packages and services), or use --dry-run",
            file=sys.stderr,
        )
        return 2
    try:
        layout = Layout.from_env()
        manager = manager_for(layout)
    except (ValueError, ServiceError) as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    repo = args.repo.resolve() if args.repo else None
    options = Options(args.stack, repo, args.dry_run, args.fault, args.sdk_from_pypi)
    if args.dry_run:
        return plan.run(Context(layout, options, manager), only)
    try:
        with lock.exclusive(layout):
            return plan.run(Context(layout, options, manager), only)
    except lock.Busy as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
