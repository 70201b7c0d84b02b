"""The cloud bootstrap's `go_driver` step (issue 15 item 2): drivers/go built against the
checkout's sdks/go, with the era's build tags, installed where the Go axis finds it.

Synthetic checkouts (tests/boxlite_eras.py) and recording stand-in tools; no Go, no network.
A failed build must be a step error and leave no driver, so the Go axis reports not
applicable with the reason, never a stale pass.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lib.harness.sdk.availability import GO_DRIVER_BINARY, detect_go
from lib.layout import Layout
from lib.stack import checkout, cloud_build
from lib.stack.bootstrap import cloud, cloud_sdks, plan
from lib.stack.bootstrap.context import Context, Options, StepError
from lib.stack.services import SupervisorManager
from tests.boxlite_eras import install_tools, make_checkout, recorded

pytestmark = pytest.mark.timeout(120)
MODULE = "github.com/boxlite-ai/boxlite/sdks/go"
ATTACH = "func (b *Box) AttachExecution(ctx context.Context, id string) {}\n"


def _ctx(tmp_path: Path, repo: Path, *, dry_run: bool) -> Context:
    layout = Layout(tmp_path / "root")
    ctx = Context(layout, Options("cloud", repo=repo, dry_run=dry_run), SupervisorManager(layout))

    def probe(argv, **kw):  # the checkout is no git repository: a fixed HEAD, clean
        out = "abc123\n" if "rev-parse" in argv else ""
        return subprocess.CompletedProcess(argv, 0, out, "")

    ctx.probe = probe
    return ctx


def test_the_cloud_plan_builds_the_go_driver_right_after_the_node_sdk():
    names = plan.step_names("cloud")
    assert names.index("go_driver") == names.index("node_sdk") + 1
    assert names.index("build") < names.index("go_driver")  # libboxlite.a staged first


def test_tags_follow_the_sdks_api_era(tmp_path):
    root = make_checkout(tmp_path / "c", "catalog")
    co = checkout.detect(root)
    assert cloud_sdks.go_driver_tags(co) == ("boxlite_rest_options",)
    (root / "sdks/go/exec.go").write_text("package boxlite\n\n" + ATTACH)
    assert cloud_sdks.go_driver_tags(co) == ("boxlite_rest_options", "boxlite_attach")
    # The functional-options era of NewRest: no tag (rest_variadic.go).
    (root / "sdks/go/rest.go").write_text(
        "package boxlite\n\nfunc NewRest(url string, opts ...RestOption) (*Runtime, error)\n"
    )
    assert cloud_sdks.go_driver_tags(co) == ("boxlite_attach",)


@pytest.mark.parametrize(
    ("era", "edit", "why"),
    [
        ("pkg-dev", None, "package is sdks/go/pkg/boxlite"),
        ("catalog", "sdks/go/go.mod", "no sdks/go/go.mod"),
        ("catalog", "sdks/go/rest.go", "no NewRest"),
        ("sandbox", None, "no sdks/go/go.mod"),
    ],
)
def test_an_sdk_the_driver_cannot_build_against_is_named(tmp_path, era, edit, why):
    root = make_checkout(tmp_path / "c", era)
    if edit:
        (root / edit).unlink()
    with pytest.raises(cloud_sdks.GoDriverUnsupported, match=why):
        cloud_sdks.go_driver_tags(checkout.detect(root))


def test_the_plan_runs_with_stand_in_tools(tmp_path):
    root = make_checkout(tmp_path / "c", "catalog")
    (root / "sdks/go/exec.go").write_text("package boxlite\n\n" + ATTACH)
    co = checkout.detect(root)
    build, out = tmp_path / "build/go-driver", tmp_path / "build" / GO_DRIVER_BINARY
    steps = cloud_sdks.go_driver_plan(co, build, out)
    record = tmp_path / "record.jsonl"
    env = {**os.environ, **install_tools(tmp_path / "bin", record)}
    for step in steps:
        cloud_build.run_step(step, tmp_path / "build.log", env)
    assert (build / "main.go").is_file() and (build / "go.mod").is_file()  # a copy, not the repo
    edit, compile_ = (c for c in recorded(record) if c["tool"] == "go")
    assert edit["argv"] == ["mod", "edit", f"-replace={MODULE}={root / 'sdks/go'}"]
    assert edit["cwd"] == compile_["cwd"] == str(build)
    tags = "boxlite_rest_options,boxlite_attach"
    assert compile_["argv"] == ["build", "-tags", tags, "-o", str(out), "."]
    assert compile_["env"]["CGO_ENABLED"] == "1"
    assert compile_["env"]["GOPROXY"] == "off" and compile_["env"]["GOFLAGS"] == "-mod=mod"
    assert out.is_file()
    # The driver source in the repo is untouched: the replace went into the copy only.
    assert "replace" not in (cloud_sdks.GO_DRIVER_DIR / "go.mod").read_text().split("//")[0]


def test_dry_run_lists_the_build_and_changes_nothing(tmp_path):
    root = make_checkout(tmp_path / "c", "catalog")
    ctx = _ctx(tmp_path, root, dry_run=True)
    cloud_sdks.go_driver(ctx)
    text = "\n".join(ctx.actions)
    assert f"go mod edit -replace={MODULE}={root / 'sdks/go'}" in text
    assert "Go driver: go build -tags boxlite_rest_options -o" in text
    assert f"install {ctx.layout.bin_dir / GO_DRIVER_BINARY}" in text
    assert not ctx.layout.root.exists()


def test_the_real_step_installs_the_driver_once_and_the_go_axis_finds_it(tmp_path, monkeypatch):
    root = make_checkout(tmp_path / "c", "catalog")
    record = tmp_path / "record.jsonl"
    for key, value in install_tools(tmp_path / "bin", record).items():
        monkeypatch.setenv(key, value)
    ctx = _ctx(tmp_path, root, dry_run=False)
    cloud_sdks.go_driver(ctx)
    binary = ctx.layout.bin_dir / GO_DRIVER_BINARY
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert cloud.load_builds(ctx)["go_driver"]["tags"] == ["boxlite_rest_options"]
    found = detect_go(None, ctx.layout.bin_dir)
    assert found.available and found.argv == (str(binary),)
    # Unchanged checkout and driver source: not rebuilt.
    before = len(recorded(record))
    ctx.actions.clear()
    cloud_sdks.go_driver(ctx)
    assert ctx.actions == [] and len(recorded(record)) == before


def test_a_failed_build_is_a_step_error_and_leaves_no_driver(tmp_path, monkeypatch):
    root = make_checkout(tmp_path / "c", "catalog")
    for key, value in install_tools(tmp_path / "bin", tmp_path / "r.jsonl").items():
        monkeypatch.setenv(key, value)
    ctx = _ctx(tmp_path, root, dry_run=False)
    cloud_sdks.go_driver(ctx)  # a good build first: the stale binary a failure must remove
    binary = ctx.layout.bin_dir / GO_DRIVER_BINARY
    assert binary.is_file()
    (root / "sdks/go/rest.go").write_text(
        (root / "sdks/go/rest.go").read_text() + "// changed\n"
    )  # new source state -> rebuild
    ctx.probe = lambda argv, **kw: subprocess.CompletedProcess(
        argv, 0, "def456\n" if "rev-parse" in argv else "", ""
    )
    monkeypatch.setenv("ERAS_GO_DRIVER_FAIL", "1")
    with pytest.raises(StepError, match="undefined: boxlite.NewRest"):
        cloud_sdks.go_driver(ctx)
    assert not binary.exists()
    found = detect_go(None, ctx.layout.bin_dir)
    assert not found.available and "no Go driver at" in (found.reason or "")


def test_an_unsupported_sdk_fails_the_step_and_removes_a_stale_driver(tmp_path):
    root = make_checkout(tmp_path / "c", "pkg-dev")
    ctx = _ctx(tmp_path, root, dry_run=False)
    binary = ctx.layout.bin_dir / GO_DRIVER_BINARY
    binary.parent.mkdir(parents=True)
    binary.write_text("old")
    with pytest.raises(StepError, match="cannot build the Go driver: the Go SDK package is"):
        cloud_sdks.go_driver(ctx)
    assert not binary.exists()
