"""What every bootstrap step gets: the layout, the options, and the only ways to change things.

Why this exists: `--dry-run` has to show the real plan, not a hand-written copy of it that
drifts. So steps never call subprocess or write files directly: they *inspect* freely (`probe`,
reads) and *change* only through `run`, `write` and `sync_services`, which in a dry run record
"would ..." instead of acting. The same records become the step's report, so a warm re-run
that changes nothing says `unchanged`, and one that does says exactly what it did.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lib import processes
from lib.errors import HarnessError
from lib.layout import Layout
from lib.names import BUILD_COMMAND_TIMEOUT_S
from lib.stack import secrets as secrets_mod
from lib.stack.services import Service, ServiceManager


class StepError(HarnessError):
    """A step cannot complete; the message says what to do about it."""


@dataclass
class Options:
    """What this bootstrap was asked for: stack, checkout, dry run, faults, SDK source."""

    stack: str
    repo: Path | None = None
    dry_run: bool = False
    faults: list[str] | None = None  # None: keep what the last bootstrap set
    sdk_from_pypi: bool = False


@dataclass
class Context:
    """One bootstrap run's state, passed to every step: layout, options, service manager and what
    the step did."""

    layout: Layout
    options: Options
    manager: ServiceManager
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    actions: list[str] = field(default_factory=list)  # of the step being run
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # dry run: what would stop a real run
    facts: dict[str, object] = field(default_factory=dict)  # for the summary and the record
    _secrets: dict[str, str] | None = None

    @property
    def dry_run(self) -> bool:
        """True when nothing may change on the host."""
        return self.options.dry_run

    @property
    def python(self) -> str:
        """The interpreter the stack's Python services run on (this one)."""
        return sys.executable

    def note(self, text: str) -> None:
        """Record a fact about the step for the summary (nothing changed)."""
        self.notes.append(text)

    def fail(self, message: str) -> None:
        """Stop a real run; in a dry run, record the blocker and let the plan go on."""
        if self.dry_run:
            self.blockers.append(message)
            self.note(f"BLOCKER: {message}")
            return
        raise StepError(message)

    # -- inspecting (always runs) --------------------------------------------------------------
    def probe(
        self, argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run a read-only command; never raises on a non-zero exit (`returncode` says)."""
        try:
            return subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                cwd=cwd,
                env=None if env is None else dict(env),
                timeout=120,
            )
        except FileNotFoundError:
            return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]}: not found")

    # -- changing (recorded; skipped in a dry run) ---------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        why: str,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        show: str | None = None,
    ) -> subprocess.CompletedProcess | None:
        """Run a command that changes the host. `show` replaces argv in reports (secrets)."""
        shown = show or shlex.join(argv)
        where = f" (in {cwd})" if cwd else ""
        self.actions.append(f"{why}: {shown}{where}")
        if self.dry_run:
            return None
        # stdin closed unless given: a prompting child (a Corepack download) fails, not hangs.
        return processes.run(
            argv,
            what=why,
            show=shown,
            cwd=cwd,
            env=env,
            input=stdin,
            timeout=BUILD_COMMAND_TIMEOUT_S,
            error=StepError,
        )

    def write(self, path: Path, text: str, why: str, *, mode: int = 0o644) -> bool:
        """Write `path` when its content or mode differ; secrets go through lib.stack.secrets."""
        path = Path(path)
        same = path.is_file() and path.read_text() == text
        if same and (path.stat().st_mode & 0o777) == mode:
            return False
        self.actions.append(f"{why}: write {path}")
        if self.dry_run:
            return True
        secrets_mod.write_private(path, text)  # atomic, and private until chmod widens it
        path.chmod(mode)
        return True

    def change(self, text: str) -> bool:
        """Record a change made by library code (already guarded by `dry_run`)."""
        self.actions.append(text)
        return not self.dry_run

    def sync_services(self, services: list[Service]) -> dict[str, str]:
        """Install or update `services` and start them (a dry run only plans); per-service
        actions."""
        if self.dry_run:
            plan = self.manager.plan(services)
            self.actions += [f"{n}: would {a}" for n, a in plan.items() if a != "unchanged"]
            return plan
        result = self.manager.sync(services)
        self.actions += [f"{n}: {a}" for n, a in result.items() if a != "unchanged"]
        return result

    # -- shared state ---------------------------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        """The stack's secrets, minted on first use (any step may need them first)."""
        if self._secrets is None:
            path = self.layout.secrets_file
            if self.dry_run:
                current, missing, loose = secrets_mod.plan(path)
                if missing:
                    self.actions.append(f"would mint {','.join(missing)} in {path} (0600)")
                if loose:
                    self.actions.append(f"would set {path} to mode 0600")
                # Placeholders let the dry run render the env files; never written anywhere.
                self._secrets = {k: current.get(k) or "<new>" for k in secrets_mod.SPEC}
            else:
                self._secrets, changes = secrets_mod.ensure(path)
                self.actions += [f"{c} in {path}" for c in changes]
        return self._secrets
