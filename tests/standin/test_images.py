"""The stand-in image end to end: build, push to a real registry, pull, unpack, run a shell.

Everything here runs the real tools (umoci, skopeo, docker-registry, bwrap); only the
reference-parsing and config-rendering tests are pure.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from standin import images, registry
from standin.images import ImageError, ImageStore
from tests.standin import registry_fixtures
from tests.standin.registry_fixtures import free_port

# Fixtures by assignment: pytest finds them in the module namespace.
local_registry = registry_fixtures.local_registry
busybox_image = registry_fixtures.busybox_image

REG = "127.0.0.1:5999"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("e2e/busybox:stable", (REG, "e2e/busybox", "stable", None)),
        ("alpine", (REG, "alpine", "latest", None)),
        ("localhost/x/y:1", ("localhost", "x/y", "1", None)),
        ("127.0.0.1:5000/e2e/busybox", ("127.0.0.1:5000", "e2e/busybox", "latest", None)),
        ("ghcr.io/a/b:c", ("ghcr.io", "a/b", "c", None)),
        ("e2e/busybox@sha256:" + "a" * 64, (REG, "e2e/busybox", None, "sha256:" + "a" * 64)),
    ],
)
def test_split_ref_resolves_hostless_refs_against_the_registry(ref, expected):
    assert images.split_ref(ref, REG) == expected


@pytest.mark.parametrize("ref", ["", "a b", "UPPER/case", "x@sha256:short", "/lead"])
def test_split_ref_rejects_malformed_refs(ref):
    with pytest.raises(ImageError, match="invalid"):
        images.split_ref(ref, REG)


def test_registry_config_binds_loopback_and_stores_under_root(tmp_path):
    out = tmp_path / "etc/registry.yml"
    argv = ["config", "--port", "5123", "--root", str(tmp_path), "--out", str(out)]
    assert registry.main(argv) == 0
    text = out.read_text()
    assert 'addr: "127.0.0.1:5123"' in text
    assert f'rootdirectory: "{tmp_path / "data"}"' in text
    assert (tmp_path / "data").is_dir()
    assert registry.write_config(5123, tmp_path, out) is False  # unchanged -> no rewrite
    with pytest.raises(ValueError):
        registry.render_config(0, tmp_path)


def test_build_is_reproducible(tmp_path):
    first = images.build(tmp_path / "a")
    second = images.build(tmp_path / "a")  # rebuild in place replaces the layout
    assert first == second == images.layout_digest(tmp_path / "a")
    assert first.startswith("sha256:")


def test_registry_health_and_push_is_idempotent(busybox_image):
    port = int(busybox_image.registry.rsplit(":", 1)[1])
    assert httpx.get(registry.health_url(port)).status_code == 200
    assert images.registry_digest(busybox_image.ref, busybox_image.registry) == busybox_image.digest
    digest, pushed = images.build_push(busybox_image.registry)
    assert (digest, pushed) == (busybox_image.digest, False)


def test_pull_unpacks_a_complete_rootfs_and_bwrap_runs_it(busybox_image, tmp_path):
    store = ImageStore(tmp_path / "cache", busybox_image.registry)
    root = store.rootfs_sync(busybox_image.ref)
    assert root == tmp_path / "cache/rootfs" / images.digest_key(busybox_image.digest) / "rootfs"
    assert store.stats == {"inspect": 1, "pull": 1, "unpack": 1}

    assert os.access(root / "bin/busybox", os.X_OK)
    listed = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
    for applet in set(listed.split()) - {"busybox"}:
        assert os.readlink(root / "bin" / applet) == "busybox", applet  # relative link
    release = (root / "etc/os-release").read_text()
    assert "ID=boxlite-e2e-busybox\n" in release and "PRETTY_NAME=" in release
    assert "NAME=" in release
    passwd = (root / "etc/passwd").read_text().splitlines()
    assert [line.split(":")[:3] for line in passwd] == [
        ["root", "x", "0"],
        ["nobody", "x", "65534"],
    ]
    groups = {line.split(":")[0]: line.split(":")[2] for line in (root / "etc/group").open()}
    assert groups == {"root": "0", "nobody": "65534"}
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert (root / "root").is_dir() and (root / "home").is_dir()

    # Read-only bind: the template must hold every mount point a sandbox needs.
    run = subprocess.run(
        [
            "bwrap",
            "--ro-bind",
            str(root),
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "/bin/sh",
            "-c",
            "cat /etc/os-release; whoami; echo $PATH",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert "ID=boxlite-e2e-busybox" in run.stdout
    assert run.stdout.splitlines()[-2] == "root"


def test_second_pull_of_a_digest_is_free(busybox_image, tmp_path):
    cache = tmp_path / "cache"
    store = ImageStore(cache, busybox_image.registry)
    root = store.rootfs_sync(busybox_image.ref)
    mtime = root.parent.stat().st_mtime_ns
    assert store.rootfs_sync(busybox_image.ref) == root
    assert store.stats == {"inspect": 2, "pull": 1, "unpack": 1}  # only the digest lookup

    # A new store over the same cache (a restarted runner) does no pull either, and a
    # digest-pinned ref needs not even the registry lookup.
    again = ImageStore(cache, busybox_image.registry)
    pinned = f"{images.IMAGE_REPO}@{busybox_image.digest}"
    assert again.rootfs_sync(pinned) == root
    assert again.stats == {"inspect": 0, "pull": 0, "unpack": 0}
    assert root.parent.stat().st_mtime_ns == mtime


async def test_concurrent_callers_share_one_pull(busybox_image, tmp_path):
    store = ImageStore(tmp_path / "cache", busybox_image.registry)
    roots = await asyncio.gather(*(store.rootfs(busybox_image.ref) for _ in range(4)))
    assert len(set(roots)) == 1
    assert store.stats["pull"] == 1 and store.stats["unpack"] == 1
    assert list((tmp_path / "cache/tmp").iterdir()) == []  # no work left behind


def test_unknown_image_is_a_clear_image_error(busybox_image, tmp_path):
    store = ImageStore(tmp_path / "cache", busybox_image.registry)
    with pytest.raises(ImageError, match=r"image e2e/nope:1 not found in registry 127\.0\.0\.1"):
        store.rootfs_sync("e2e/nope:1")
    assert list((tmp_path / "cache/rootfs").iterdir()) == []


def test_unreachable_registry_is_a_clear_image_error(tmp_path):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ImageError, match=f"registry {dead} is unreachable"):
        ImageStore(tmp_path / "cache", dead, timeout=60).rootfs_sync(images.IMAGE_REF)


def test_leftovers_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / "cache/tmp/999999999-abcd"
    live = tmp_path / f"cache/tmp/{os.getpid()}-abcd"
    dead.mkdir(parents=True)
    live.mkdir()
    ImageStore(tmp_path / "cache", REG)
    assert not dead.exists() and live.exists()


def _cli_pull(registry: str, cache: Path, ref: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "standin", "image", "pull", "--registry", registry]
    argv += ["--cache", str(cache), ref]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_cli_pull_prints_the_rootfs_path(busybox_image, tmp_path):
    out = _cli_pull(busybox_image.registry, tmp_path, busybox_image.ref)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).joinpath("bin/busybox").is_file()

    bad = _cli_pull(busybox_image.registry, tmp_path, "e2e/missing:1")
    assert bad.returncode == 1 and "not found" in bad.stderr and bad.stdout == ""
