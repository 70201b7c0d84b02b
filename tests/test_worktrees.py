"""lib.proof.worktrees on a real git repo made per test: refs, isolation from the user's checkout,
cleanup on errors, hooks not run, stale worktrees reaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lib.proof import worktrees as wt


def sh(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main (file says 'main') and fix (file says 'fix'); checked out on a user branch with
    a modified tracked file and an untracked file, like a developer's tree mid-work."""
    repo = tmp_path / "boxlite"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    sh(repo, "config", "user.email", "t@example.invalid")
    sh(repo, "config", "user.name", "t")
    (repo / "file").write_text("main\n")
    sh(repo, "add", "file")
    sh(repo, "commit", "-q", "-m", "main")
    sh(repo, "checkout", "-q", "-b", "fix")
    (repo / "file").write_text("fix\n")
    sh(repo, "commit", "-q", "-am", "fix")
    sh(repo, "tag", "v-fix")
    sh(repo, "checkout", "-q", "-b", "wip", "main")
    (repo / "file").write_text("uncommitted edit\n")
    (repo / "untracked").write_text("mine\n")
    return repo


def test_resolve_names_commits_and_rejects_the_rest(repo: Path):
    fix = sh(repo, "rev-parse", "fix")
    assert wt.resolve(repo, "fix") == fix
    assert wt.resolve(repo, "v-fix") == fix
    assert wt.resolve(repo, fix[:10]) == fix
    assert wt.resolve(repo, "fix~1") == sh(repo, "rev-parse", "main")
    for bad in ("no-such-branch", "--all", ""):
        with pytest.raises(wt.RefError):
            wt.resolve(repo, bad)


def test_check_repo(repo: Path, tmp_path: Path):
    assert wt.check_repo(repo / ".") == repo
    with pytest.raises(wt.RefError, match="not a git checkout"):
        wt.check_repo(tmp_path)
    with pytest.raises(wt.RefError, match="not a directory"):
        wt.check_repo(tmp_path / "missing")


def test_worktrees_hold_each_ref_and_leave_the_user_checkout_alone(repo: Path, tmp_path: Path):
    before = wt.RepoState.of(repo)
    assert before.branch == "refs/heads/wip" and "file" in before.status
    with wt.Worktrees(repo, tmp_path / "work") as trees:
        main_tree = trees.add("main", wt.resolve(repo, "main"))
        fix_tree = trees.add("pr", wt.resolve(repo, "fix"))
        assert (main_tree / "file").read_text() == "main\n"
        assert (fix_tree / "file").read_text() == "fix\n"
        assert len(wt.registered(repo)) == 3
        assert wt.RepoState.of(repo) == before
    assert wt.RepoState.of(repo) == before
    assert (repo / "file").read_text() == "uncommitted edit\n"
    assert wt.registered(repo) == [repo]
    assert not main_tree.exists() and not fix_tree.exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_worktrees_are_removed_when_the_body_raises(repo: Path, tmp_path: Path):
    with pytest.raises(RuntimeError), wt.Worktrees(repo, tmp_path) as trees:
        path = trees.add("main", wt.resolve(repo, "main"))
        raise RuntimeError("boom")
    assert not path.exists()
    assert wt.registered(repo) == [repo]


def test_a_failed_add_is_still_cleaned_up(repo: Path, tmp_path: Path):
    with wt.Worktrees(repo, tmp_path) as trees:
        with pytest.raises(wt.WorktreeError):
            trees.add("main", "0" * 40)
        base = trees.base
    assert not base.exists()
    assert wt.registered(repo) == [repo]


def test_user_hooks_do_not_run(repo: Path, tmp_path: Path):
    marker = tmp_path / "hook-ran"
    hook = repo / ".git/hooks/post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    with wt.Worktrees(repo, tmp_path) as trees:
        trees.add("main", wt.resolve(repo, "main"))
    assert not marker.exists()


def test_reap_stale_removes_only_dead_runs(repo: Path, tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = wt.Worktrees(repo, tmp_path)
    stale_path = stale.add("main", wt.resolve(repo, "main"))
    (stale.base / wt.OWNER_FILE).write_text(f"{dead.pid}\n")
    with wt.Worktrees(repo, tmp_path) as live:
        live_path = live.add("pr", wt.resolve(repo, "fix"))
        # a worktree the user made by hand is never touched
        sh(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "users-own"), "main")
        assert wt.reap_stale(repo) == [stale_path]
        assert not stale.base.exists()
        assert live_path.exists()
        assert (tmp_path / "users-own").exists()
    assert wt.registered(repo) == [repo, tmp_path / "users-own"]
