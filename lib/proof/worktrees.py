"""One throw-away `git worktree` per ref, so two-sided runs never touch the user's checkout.

A checkout of another ref in the user's tree would move their HEAD and, when that tree also
holds the harness, the test code itself (history: docs/history.md). So each ref gets a detached
worktree in a private temporary directory; the user's HEAD, branch, index and working files are
never written. Removal is idempotent and runs from the orchestrator's cleanup on any exit; a
run killed with SIGKILL leaves an `owner.pid` marker so the next run can reap its worktrees
(`reap_stale`).

Hooks are disabled for every git command here: a `post-checkout` hook in the user's repo
must not run (or fail) because the harness created a worktree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lib import processes
from lib.errors import HarnessError

PREFIX = "boxlite-e2e-two-sided-"
OWNER_FILE = "owner.pid"


class RefError(HarnessError):
    """A ref that does not name a commit in the repo (two-sided exit 125)."""


class WorktreeError(HarnessError):
    """git could not create or remove a worktree."""


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # core.hooksPath=/dev/null: no user hook runs on our worktree add/remove.
    """Run git in `repo` with hooks disabled; WorktreeError on failure when `check`."""
    cmd = ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise WorktreeError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def check_repo(repo: Path) -> Path:
    """The top level of the git checkout at `repo`, or a clear error."""
    if not repo.is_dir():
        raise RefError(f"REPO {repo} is not a directory")
    proc = git(repo, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise RefError(f"REPO {repo} is not a git checkout: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def resolve(repo: Path, ref: str) -> str:
    """The full commit SHA `ref` names in `repo`; RefError when it names none."""
    if not ref or ref.startswith("-"):
        raise RefError(f"{ref!r} is not a ref")
    proc = git(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{ref}^{{commit}}",
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RefError(f"ref {ref!r} does not exist in {repo} (fetch it first?)")
    return proc.stdout.strip()


@dataclass(frozen=True)
class RepoState:
    """What the user would notice changing in their checkout."""

    head: str
    branch: str | None
    status: str

    @classmethod
    def of(cls, repo: Path) -> RepoState:
        """HEAD, branch and porcelain status of `repo` now."""
        head = git(repo, "rev-parse", "HEAD", check=False).stdout.strip()
        branch = git(repo, "symbolic-ref", "--quiet", "HEAD", check=False).stdout.strip()
        status = git(repo, "status", "--porcelain=v1", "--untracked-files=all").stdout
        return cls(head, branch or None, status)


class Worktrees:
    """Context manager owning the detached worktrees of one two-sided run."""

    def __init__(self, repo: Path, parent: Path | None = None) -> None:
        self.repo = repo
        base = Path(parent) if parent else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
        (self.base / OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.paths: list[Path] = []

    def add(self, name: str, sha: str) -> Path:
        """Add a detached worktree `name` at `sha`; recorded first so an interrupted add is still
        removed."""
        path = self.base / name
        # Recorded before git runs, so an interrupted add is still cleaned up.
        self.paths.append(path)
        git(self.repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
        return path

    def remove_all(self) -> list[str]:
        """Remove every worktree and the base dir; return problems (never raises)."""
        problems = []
        for path in reversed(self.paths):
            if path.exists():
                proc = git(
                    self.repo, "worktree", "remove", "--force", "--force", str(path), check=False
                )
                if proc.returncode != 0:
                    problems.append(f"git worktree remove {path}: {proc.stderr.strip()}")
            shutil.rmtree(path, ignore_errors=True)
        self.paths.clear()
        shutil.rmtree(self.base, ignore_errors=True)
        # Drop the registrations of anything removed by hand above.
        git(self.repo, "worktree", "prune", check=False)
        problems += [f"{p} still exists" for p in [self.base] if p.exists()]
        return problems

    def __enter__(self) -> Worktrees:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove_all()


def registered(repo: Path) -> list[Path]:
    """Paths of all worktrees git knows for `repo`, the main checkout first."""
    out = git(repo, "worktree", "list", "--porcelain").stdout
    return [
        Path(line[len("worktree ") :]) for line in out.splitlines() if line.startswith("worktree ")
    ]


def reap_stale(repo: Path) -> list[Path]:
    """Remove worktrees of this repo left by a two-sided run that no longer exists.

    Only worktrees under a directory carrying our prefix and an `owner.pid` of a dead
    process are touched; anything else the user made is left alone.
    """
    reaped = []
    for path in registered(repo)[1:]:
        base = path.parent
        owner = base / OWNER_FILE
        if not base.name.startswith(PREFIX) or not owner.is_file():
            continue
        try:
            pid = int(owner.read_text().strip())
        except ValueError:
            continue
        if processes.pid_alive(pid):
            continue
        git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
        shutil.rmtree(base, ignore_errors=True)
        reaped.append(path)
    git(repo, "worktree", "prune", check=False)
    return reaped
