"""The stand-in's second image, `e2e/tools:stable`: a Debian userland with real tools.

Why: the busybox image has no python3, curl, git or `/workspace`, so the realistic cases
upstream runs (write and run a script, commit in a repository, fetch over HTTP) had nothing to
run on. This image is Debian bookworm `minbase` plus python3, curl, git and ca-certificates,
built by `mmdebstrap` from Debian packages (no Docker, no Docker Hub), with `/workspace` as
its working directory, and published next to busybox in the local registry.

Reproducible: `SOURCE_DATE_EPOCH=0`, mtimes pinned, no history (images.build_layout), so
the same package versions give the same digest. Docs, man pages and locales are left out
(smaller box copies). Cached: the built OCI layout is kept under the stack's data dir, keyed
by the inputs (suite, mirror, packages and this recipe's version); a re-bootstrap pushes the
cached layout (seconds) instead of building again (minutes, mostly downloads).

Command line: `python -m standin tools-image build-push --registry HOST:PORT --cache DIR`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from standin import images

IMAGE_REF = "e2e/tools:stable"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "curl", "git", "ca-certificates")
RECIPE = 1  # bump when the build below changes what lands in the image
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
BUILD_TIMEOUT = 1800.0
# Named explicitly: on a non-Debian host (an Ubuntu CI runner) apt's keys are not Debian's.
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def cache_key(mirror: str = MIRROR) -> str:
    doc = {"suite": SUITE, "mirror": mirror, "packages": PACKAGES, "recipe": RECIPE}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def debootstrap(rootfs: Path, mirror: str = MIRROR) -> None:
    """mmdebstrap the tree into `rootfs` (an empty directory)."""
    with tempfile.TemporaryDirectory(prefix=".tools-root-", dir=rootfs.parent) as tmp:
        tree = Path(tmp) / "tree"
        argv = [
            "mmdebstrap",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            *([f"--keyring={KEYRING}"] if KEYRING.exists() else []),
            *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDES),
            '--customize-hook=mkdir -p "$1/workspace" "$1/root"',
            '--customize-hook=rm -f "$1/etc/hostname" "$1/etc/resolv.conf"',
            SUITE,
            str(tree),
            mirror,
        ]
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT, check=False
            )
        except FileNotFoundError:
            raise images.ImageError(
                "mmdebstrap is not installed (see scripts/setup-host.sh)"
            ) from None
        except subprocess.TimeoutExpired:
            raise images.ImageError(f"mmdebstrap did not finish in {BUILD_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise images.ImageError(f"mmdebstrap failed: {tail}")
        # Into the bundle's (empty) rootfs, keeping owners, modes and links.
        rootfs.rmdir()
        shutil.move(str(tree), rootfs)


def ensure_layout(cache_dir: Path, mirror: str = MIRROR) -> tuple[Path, bool, float]:
    """The cached OCI layout, built when missing; (layout, built now, build seconds)."""
    layout = cache_dir / f"tools-{cache_key(mirror)}" / "layout"
    if (layout / "index.json").exists():
        return layout, False, 0.0
    started = time.monotonic()
    images.build_layout(
        layout,
        lambda rootfs: debootstrap(rootfs, mirror),
        title="boxlite-e2e-tools",
        cmd="bash",
        workdir="/workspace",
    )
    for stale in cache_dir.glob("tools-*"):  # older recipes' layouts
        if stale != layout.parent:
            shutil.rmtree(stale, ignore_errors=True)
    return layout, True, time.monotonic() - started


def build_push(registry: str, cache_dir: Path) -> tuple[str, bool, float]:
    """(digest, pushed, build seconds; 0 when the cache had it)."""
    layout, _, seconds = ensure_layout(cache_dir)
    pushed = images.push_layout(layout, IMAGE_REF, registry)
    return images.layout_digest(layout), pushed, seconds


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m standin tools-image", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    bp = sub.add_parser("build-push", help=f"build (or take from the cache) and push {IMAGE_REF}")
    bp.add_argument("--registry", required=True, help="HOST:PORT")
    bp.add_argument("--cache", type=Path, required=True, help="where the built layout is kept")
    args = p.parse_args(argv)
    try:
        digest, pushed, seconds = build_push(args.registry, args.cache)
    except images.ImageError as exc:
        print(f"standin tools-image: {exc}", file=sys.stderr)
        return 1
    built = f" (built in {seconds:.0f}s)" if seconds else " (cached layout)"
    print(f"{'pushed' if pushed else 'unchanged'} {args.registry}/{IMAGE_REF} {digest}{built}")
    return 0
