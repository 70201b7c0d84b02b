"""The stand-in's OCI image: build it from Debian's busybox-static, push it, pull and unpack it.

Why this exists: the stand-in runner needs a real image to run boxes from, fetched the way a
real runner fetches one (resolve a digest in a registry, pull, unpack), without Docker or
Docker Hub. So the image is built locally with `umoci` from the host's static busybox, pushed
with `skopeo` to the loopback `docker-registry`, and pulled back by `ImageStore`.

The build is reproducible (fixed mtimes, fixed `created`, no history), so rebuilding an
unchanged image yields the same manifest digest and `build-push` can say "unchanged" instead
of pushing; the runner's digest cache stays valid across bootstraps.

Command line (`python -m standin image ...`):
    build --out DIR                       OCI layout at DIR, tag `stable`; prints the digest
    build-push --registry HOST:PORT       build, push as e2e/busybox:stable unless unchanged
    pull --registry HOST:PORT --cache DIR REF    prints the unpacked rootfs path
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psutil

IMAGE_REPO = "e2e/busybox"
IMAGE_TAG = "stable"
IMAGE_REF = f"{IMAGE_REPO}:{IMAGE_TAG}"
BUSYBOX = Path("/bin/busybox")
# Fixed timestamp for every file and the config: what makes rebuilds byte-identical.
EPOCH = "1970-01-01T00:00:00Z"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bounded waits for every external tool: a wedged registry must not hang a bootstrap.
DEFAULT_TIMEOUT = 300.0


class ImageError(Exception):
    """An image could not be built, resolved, pulled or unpacked; the message says why."""


# ---------------------------------------------------------------------------------------------
# references


def split_ref(ref: str, registry: str) -> tuple[str, str, str | None, str | None]:
    """Split REF into (host, repository, tag, digest); refs without a host use `registry`.

    A first path component is a host when it has a '.' or ':' or is `localhost` (the usual
    container-reference rule), so `e2e/busybox:stable` and `alpine:3.23` resolve against the
    configured registry while `127.0.0.1:5000/x:y` names its own.
    """
    text = ref.strip()
    if not text or any(c.isspace() for c in text):
        raise ImageError(f"invalid image reference {ref!r}")
    name, _, digest = text.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = registry, name
    repo, _, tag = path.partition(":")  # without the host, a ':' can only start the tag
    if not repo or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", repo):
        raise ImageError(f"invalid image reference {ref!r}")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ImageError(f"invalid digest in image reference {ref!r}")
    return host, repo, (tag or (None if digest else "latest")), (digest or None)


def docker_ref(ref: str, registry: str) -> str:
    """`docker://` transport string for skopeo (by digest when the ref pins one)."""
    host, repo, tag, digest = split_ref(ref, registry)
    return f"docker://{host}/{repo}@{digest}" if digest else f"docker://{host}/{repo}:{tag}"


def digest_key(digest: str) -> str:
    """Directory name for a digest: `sha256-<hex>` (a ':' would break skopeo's `oci:DIR:TAG`)."""
    return digest.replace(":", "-", 1)


def _classify(stderr: str, what: str, registry_host: str) -> ImageError:
    """Turn skopeo's stderr into one clear message: unknown image vs unreachable registry."""
    low = stderr.lower()
    if "manifest unknown" in low or "name unknown" in low or "not found" in low:
        return ImageError(f"image {what} not found in registry {registry_host}")
    if any(s in low for s in ("connection refused", "no such host", "i/o timeout", "dial tcp")):
        return ImageError(f"registry {registry_host} is unreachable while resolving {what}")
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    return ImageError(f"skopeo failed for {what}: {last}")


# ---------------------------------------------------------------------------------------------
# building (synchronous: a CLI step)


def _run(argv: list[str], timeout: float = DEFAULT_TIMEOUT) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ImageError(f"{argv[0]} is not installed (see scripts/setup-host.sh)") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{argv[0]} {argv[1]} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise ImageError(f"{' '.join(argv[:2])} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def busybox_version(busybox: Path = BUSYBOX) -> str:
    banner = _run([str(busybox)]).splitlines()[0] if busybox.exists() else ""
    match = re.search(r"BusyBox v(\S+)", banner)
    if not match:
        raise ImageError(f"{busybox} is missing or not busybox (install busybox-static)")
    return match.group(1)


def populate_rootfs(rootfs: Path, busybox: Path = BUSYBOX) -> None:
    """Write the image's whole file tree into an (empty) rootfs directory."""
    version = busybox_version(busybox)
    applets = sorted(set(_run([str(busybox), "--list"]).split()) - {"busybox"})
    # Mount points exist in the image so a sandbox never has to create them in the template.
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "home",
        "proc",
        "dev",
        "sys",
        "run",
        "var",
        "var/tmp",
    ):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(busybox, rootfs / "bin/busybox")
    (rootfs / "bin/busybox").chmod(0o755)
    for applet in applets:
        # Relative links keep working wherever the rootfs is mounted or copied.
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "usr/bin/env").symlink_to("../../bin/busybox")
    files = {
        "etc/os-release": (
            'NAME="BoxLite e2e busybox"\n'
            "ID=boxlite-e2e-busybox\n"
            f"VERSION_ID={version}\n"
            f'PRETTY_NAME="BoxLite e2e busybox {version} (Debian busybox-static)"\n'
        ),
        "etc/passwd": (
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        ),
        "etc/group": "root:x:0:\nnobody:x:65534:\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
    }
    for rel, text in files.items():
        (rootfs / rel).write_text(text)
        (rootfs / rel).chmod(0o644)
    (rootfs / "root").mkdir(mode=0o700, exist_ok=True)
    for sticky in ("tmp", "var/tmp"):
        (rootfs / sticky).mkdir(exist_ok=True)
        (rootfs / sticky).chmod(0o1777)  # mkdir's mode is masked by the umask; chmod is not


def _pin_mtimes(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (0, 0), follow_symlinks=False)


def layout_digest(layout: Path, tag: str = IMAGE_TAG) -> str:
    """Manifest digest of `tag` in an OCI layout (what a registry will report once pushed)."""
    index = json.loads((layout / "index.json").read_text())
    for desc in index.get("manifests", []):
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return desc["digest"]
    raise ImageError(f"tag {tag!r} not found in OCI layout {layout}")


def build(out: Path, busybox: Path = BUSYBOX) -> str:
    """Build the busybox image as an OCI layout at `out`; return its digest.

    The old layout at `out` is swapped out only once the new one is complete.
    """
    return build_layout(
        out, lambda rootfs: populate_rootfs(rootfs, busybox), title="boxlite-e2e-busybox"
    )


def build_layout(
    out: Path,
    populate: Callable[[Path], None],
    *,
    title: str,
    cmd: str = "sh",
    workdir: str = "/",
) -> str:
    """A one-layer OCI layout at `out` (tag `stable`) from what `populate(rootfs)` writes.

    Every mtime and the `created` date are pinned and there is no history, so the same tree
    gives the same digest. The old layout at `out` is swapped out only once the new one is
    complete; returns the manifest digest.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    rootless = ["--rootless"] if os.geteuid() != 0 else []
    with tempfile.TemporaryDirectory(prefix=".image-build-", dir=out.parent) as tmp:
        layout, bundle = Path(tmp, "layout"), Path(tmp, "bundle")
        image = f"{layout}:{IMAGE_TAG}"
        _run(["umoci", "init", "--layout", str(layout)])
        _run(["umoci", "new", "--image", image])
        _run(["umoci", "unpack", *rootless, "--image", image, str(bundle)])
        populate(bundle / "rootfs")
        _pin_mtimes(bundle / "rootfs")
        _run(["umoci", "repack", "--no-history", "--image", image, str(bundle)], 1800)
        _run(
            [
                "umoci",
                "config",
                "--image",
                image,
                "--no-history",
                "--created",
                EPOCH,
                "--author",
                "boxlite-e2e",
                "--config.env",
                f"PATH={IMAGE_PATH}",
                "--config.cmd",
                cmd,
                "--config.workingdir",
                workdir,
                "--config.label",
                f"org.opencontainers.image.title={title}",
            ]
        )
        _run(["umoci", "gc", "--layout", str(layout)])  # drop the empty base's blobs
        digest = layout_digest(layout)
        old = Path(tmp, "old")
        if out.exists():
            out.rename(old)
        layout.rename(out)
    return digest


def registry_digest(ref: str, registry: str, timeout: float = 60.0) -> str | None:
    """Digest of REF in the registry, or None when the image is not there."""
    try:
        raw = _run(["skopeo", "inspect", "--tls-verify=false", docker_ref(ref, registry)], timeout)
    except ImageError as exc:
        err = _classify(str(exc), ref, registry)
        if "not found" in str(err):
            return None
        raise err from None
    return json.loads(raw)["Digest"]


def build_push(registry: str, work: Path | None = None) -> tuple[str, bool]:
    """Build and push IMAGE_REF; return (digest, pushed). No push when the digest matches."""
    with tempfile.TemporaryDirectory(prefix="boxlite-e2e-image-") as tmp:
        layout = (work or Path(tmp)) / "layout"
        digest = build(layout)
        return digest, push_layout(layout, IMAGE_REF, registry)


def push_layout(layout: Path, ref: str, registry: str) -> bool:
    """Push the layout's `stable` tag as REF unless the registry has that digest; pushed?"""
    digest = layout_digest(layout)
    if registry_digest(ref, registry) == digest:
        return False
    _run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"oci:{layout}:{IMAGE_TAG}",
            docker_ref(ref, registry),
        ],
        1800,
    )
    pushed = registry_digest(ref, registry)
    if pushed != digest:
        raise ImageError(f"pushed {ref} but the registry reports {pushed}, not {digest}")
    return True


# ---------------------------------------------------------------------------------------------
# pulling (asynchronous: the runner calls it from its event loop)


class ImageStore:
    """Digest-keyed cache of unpacked image rootfs templates, filled from a registry.

    `await store.rootfs(ref)` is the API: it is a coroutine that runs skopeo/umoci as asyncio
    subprocesses, so it never blocks the caller's event loop, and it is safe to await many
    times at once: a per-digest lock makes concurrent callers for one image share a single
    pull. Across processes, the atomic rename of the unpacked bundle decides one winner.
    `rootfs_sync` is the same for synchronous callers (it runs its own event loop).

    Cache layout under `cache_dir`:
        oci/sha256-<hex>/         the pulled OCI layout (tag `image`), one per digest
        rootfs/sha256-<hex>/rootfs  the unpacked template: READ-ONLY by contract, copy or
                                    overlay it for a box, never write into it
        tmp/<pid>-<rand>/         work in progress; leftovers of dead processes are removed
    `stats` counts the external calls made (inspect, pull, unpack), for logs and tests.
    """

    def __init__(self, cache_dir: Path, registry: str, *, timeout: float = DEFAULT_TIMEOUT):
        self.cache_dir = Path(cache_dir)
        self.registry = registry
        self.timeout = timeout
        self.stats = {"inspect": 0, "pull": 0, "unpack": 0}
        self._locks: dict[str, asyncio.Lock] = {}
        for sub in ("oci", "rootfs", "tmp"):
            (self.cache_dir / sub).mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp()

    def _remove_stale_tmp(self) -> None:
        for entry in (self.cache_dir / "tmp").iterdir():
            pid = entry.name.partition("-")[0]
            if not (pid.isdigit() and psutil.pid_exists(int(pid))):
                shutil.rmtree(entry, ignore_errors=True)

    async def _exec(self, argv: list[str], what: str) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except FileNotFoundError:
            raise ImageError(f"{argv[0]} is not installed (see scripts/setup-host.sh)") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise ImageError(f"{argv[0]} timed out after {self.timeout:.0f}s on {what}") from None
        if proc.returncode != 0:
            raise _classify(err.decode(errors="replace"), what, split_ref(what, self.registry)[0])
        return out.decode()

    async def digest(self, ref: str) -> str:
        """The manifest digest REF names now (no registry call when REF pins a digest)."""
        pinned = split_ref(ref, self.registry)[3]
        if pinned:
            return pinned
        self.stats["inspect"] += 1
        raw = await self._exec(
            ["skopeo", "inspect", "--tls-verify=false", docker_ref(ref, self.registry)], ref
        )
        return json.loads(raw)["Digest"]

    def manifest_info(self, digest: str) -> dict:
        """What the pulled layout's manifest says: config digest, layer count, byte size."""
        layout = self.cache_dir / "oci" / digest_key(digest)
        try:
            index = json.loads((layout / "index.json").read_text())
            manifest = index["manifests"][0]
            blob = layout / "blobs" / Path(*manifest["digest"].split(":", 1))
            doc = json.loads(blob.read_text())
            layers = doc.get("layers") or []
            config = doc.get("config") or {}
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise ImageError(f"cannot read the manifest of {digest}: {exc}") from None
        size = int(config.get("size") or 0) + sum(int(layer.get("size") or 0) for layer in layers)
        return {
            "digest": digest,
            "config_digest": str(config.get("digest") or ""),
            "layer_count": len(layers),
            "size_bytes": size,
        }

    def cached(self, digest: str) -> Path | None:
        path = self.cache_dir / "rootfs" / digest_key(digest) / "rootfs"
        return path if path.is_dir() else None

    async def rootfs(self, ref: str) -> Path:
        """Path of the unpacked, read-only rootfs template for REF; pulls once per digest."""
        digest = await self.digest(ref)
        if hit := self.cached(digest):
            return hit
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if hit := self.cached(digest):  # another caller finished while we waited
                return hit
            host, repo, _, _ = split_ref(ref, self.registry)
            layout = await self._pull(f"{host}/{repo}@{digest}", digest)
            return await self._unpack(layout, digest, ref)

    def rootfs_sync(self, ref: str) -> Path:
        return asyncio.run(self.rootfs(ref))

    def _tmpdir(self) -> Path:
        path = self.cache_dir / "tmp" / f"{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    async def _pull(self, pinned: str, digest: str) -> Path:
        layout = self.cache_dir / "oci" / digest_key(digest)
        if (layout / "index.json").is_file():
            return layout
        tmp = self._tmpdir()
        try:
            self.stats["pull"] += 1
            await self._exec(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--src-tls-verify=false",
                    f"docker://{pinned}",
                    f"oci:{tmp / 'layout'}:image",
                ],
                pinned,
            )
            _rename_or_drop(tmp / "layout", layout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return layout

    async def _unpack(self, layout: Path, digest: str, ref: str) -> Path:
        tmp = self._tmpdir()
        target = self.cache_dir / "rootfs" / digest_key(digest)
        rootless = ["--rootless"] if os.geteuid() != 0 else []
        try:
            self.stats["unpack"] += 1
            await self._exec(
                ["umoci", "unpack", *rootless, "--image", f"{layout}:image", str(tmp / "bundle")],
                ref,
            )
            # The rename is the commit point: a crash before it leaves only tmp/ behind.
            _rename_or_drop(tmp / "bundle", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target / "rootfs"


def _rename_or_drop(src: Path, dst: Path) -> None:
    """Atomically move src to dst; if another process got there first, keep theirs."""
    try:
        os.rename(src, dst)
    except OSError:
        if not dst.exists():
            raise


# ---------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m standin image", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the OCI layout")
    b.add_argument("--out", type=Path, required=True)
    bp = sub.add_parser("build-push", help=f"build and push {IMAGE_REF}")
    bp.add_argument("--registry", required=True, help="HOST:PORT")
    pl = sub.add_parser("pull", help="pull and unpack REF, print the rootfs path")
    pl.add_argument("--registry", required=True, help="HOST:PORT")
    pl.add_argument("--cache", type=Path, required=True)
    pl.add_argument("ref")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "build":
            print(build(args.out))
        elif args.cmd == "build-push":
            digest, pushed = build_push(args.registry)
            state = "pushed" if pushed else "unchanged"
            print(f"{state} {args.registry}/{IMAGE_REF} {digest}")
        else:
            print(ImageStore(args.cache, args.registry).rootfs_sync(args.ref))
    except ImageError as exc:
        print(f"standin image: {exc}", file=sys.stderr)
        return 1
    return 0
