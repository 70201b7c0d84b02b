"""A fake stack for the two-sided self-tests (loaded by `DRIVER=<this file>:FakeDriver`).

It lets the real `two_sided.sh` -> `lib.proof.two_sided` path run end to end in a second:
a ref's "build" is the word in its `fake-build` file; "swapping it in" writes that word to
a state file (the stand-in for an installed binary); the fake case reads the state file and
fails when it says `buggy`. Every driver call is appended to an events file, so a test can
check what was built, swapped and restored, and in which order.

Words: `buggy` (case fails), `fixed` (passes), `hang` (case blocks until killed, after
writing its pid to $FAKE_CASE_STARTED), `broken` (build fails), `wont-start` (bring-up
fails). FAKE_RESTORE_FAILS=1 makes restore fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lib.proof.stack_driver import (
    BringUpError,
    BuildError,
    RestoreError,
    SideBuild,
    Snapshot,
    StackDriver,
)

CASE = """
import os, pathlib, threading

def test_fake_regression_case():
    state = pathlib.Path(os.environ["FAKE_STACK_STATE"]).read_text().strip()
    if state == "hang":
        pathlib.Path(os.environ["FAKE_CASE_STARTED"]).write_text(str(os.getpid()))
        threading.Event().wait(300)  # blocks until the orchestrator kills the run
    assert state != "buggy", "the fake bug showed"
"""


class FakeDriver(StackDriver):
    name = "fake"

    def __init__(self) -> None:
        self.state = Path(os.environ["FAKE_STACK_STATE"])
        self.events = Path(os.environ["FAKE_STACK_EVENTS"])

    def _event(self, text: str) -> None:
        with open(self.events, "a") as fh:
            fh.write(text + "\n")

    def preflight(self) -> None:
        if not self.state.is_file():
            raise BringUpError("the fake stack is not up")

    def snapshot(self) -> Snapshot:
        word = self.state.read_text().strip()
        self._event(f"snapshot {word}")
        return Snapshot(info={"build": word}, data={"word": word})

    def build(self, side: str, ref: str, sha: str, tree: Path, out_dir: Path) -> SideBuild:
        word = (tree / "fake-build").read_text().strip()
        self._event(f"build {side} {word} {tree}")
        if word == "broken":
            raise BuildError(f"{side}: the fake build is broken")
        return SideBuild(side, ref, sha, tree, info={"build": word})

    def activate(self, build: SideBuild) -> None:
        word = build.info["build"]
        self._event(f"activate {build.side} {word}")
        if word == "wont-start":
            raise BringUpError(f"{build.side}: the fake stack did not come up")
        self.state.write_text(word + "\n")

    def restore(self, snapshot: Snapshot) -> None:
        self._event(f"restore {snapshot.data['word']}")
        if os.environ.get("FAKE_RESTORE_FAILS"):
            raise RestoreError("the fake restore failed")
        self.state.write_text(snapshot.data["word"] + "\n")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, branches: dict[str, dict[str, str]]) -> Path:
    """A git repo with one commit per branch (files given per branch, all off the first).

    The first branch is `main`; the checkout is left on a `wip` branch with uncommitted
    and untracked changes, so tests can prove two-sided never touches it.
    """
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "two-sided@example.invalid")
    git(path, "config", "user.name", "two-sided self-test")
    first = True
    for branch, files in branches.items():
        if not first:
            git(path, "checkout", "-q", "-b", branch, "main")
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
            git(path, "add", name)
        git(path, "commit", "-q", "--allow-empty", "-m", branch)
        first = False
    git(path, "checkout", "-q", "-b", "wip", "main")
    (path / "scratch.txt").write_text("uncommitted\n")
    return path
