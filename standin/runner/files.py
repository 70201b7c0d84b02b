"""copy_in / copy_out: tar transfers between the client and a box's rootfs.

Wire shape, as the 0.10.8 SDK speaks it (probed against a recording server):
- `PUT .../files?path=DST&source_is_dir=BOOL`, chunked `application/x-tar` body. A file
  arrives as one member named after the host file; a directory as its top-level directory
  and everything under it.
- `GET .../files?path=SRC` answers a tar whose top-level entry is SRC's basename, plus
  `x-boxlite-source-is-dir`; the client extracts it into the host destination.

Placement follows `docker cp`, which BoxLite's CLI mirrors: a file lands at DST, or inside
DST when DST is an existing directory or ends in `/`; a directory becomes DST when DST does
not exist, or goes inside it when it does. Paths are resolved inside the box's rootfs
(rootpath.py). Uploads are unpacked member by member into a staging dir with our own checks
(no absolute names, no `..`, nothing written through a link, no devices, no set-id bits),
owned by the box's user: tarfile's extraction filters would do most of this, but Debian 12's
Python 3.11.2 predates them (PEP 706 landed in 3.11.4).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from aiohttp import web

from standin.errors import ApiError
from standin.runner.rootpath import PathLoop, resolve_in_root
from standin.runner.users import BoxUser

MAX_UPLOAD = 1 << 30  # 1 GiB: a runaway client must not fill the runner's disk
STREAM_CHUNK = 256 * 1024


def _box_path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise ApiError("invalid_argument", "query parameter 'path' is required")
    if ".." in PurePosixPath(path).parts:
        raise ApiError("invalid_argument", "path must not contain '..'")
    return path if path.startswith("/") else "/" + path


def _resolve(rootfs: Path, path: str) -> Path:
    try:
        return resolve_in_root(rootfs, path)
    except PathLoop as exc:
        raise ApiError("invalid_argument", str(exc)) from None


async def copy_in(
    request: web.Request, rootfs: Path, staging_root: Path, owner: BoxUser
) -> web.Response:
    dest = _box_path(request)
    source_is_dir = request.query.get("source_is_dir", "false").lower() == "true"
    staging = staging_root / f".upload-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    try:
        archive = staging / "upload.tar"
        size = 0
        out = await asyncio.to_thread(open, archive, "wb")
        try:
            async for chunk in request.content.iter_chunked(STREAM_CHUNK):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise ApiError("resource_exhausted", f"upload exceeds {MAX_UPLOAD} bytes")
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        await asyncio.to_thread(
            _install, archive, staging / "tree", rootfs, dest, source_is_dir, owner
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    return web.Response(status=204)


def _install(
    archive: Path, tree: Path, rootfs: Path, dest: str, source_is_dir: bool, owner: BoxUser
) -> None:
    tree.mkdir()
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                _extract_member(tar, member, tree, owner)
    except (tarfile.TarError, OSError) as exc:
        raise ApiError("invalid_argument", f"bad tar upload: {exc}") from None
    entries = list(tree.iterdir())
    if len(entries) != 1:
        raise ApiError("invalid_argument", f"expected one top-level entry, got {len(entries)}")
    source = entries[0]
    target = _resolve(rootfs, dest)
    if source.is_dir() != source_is_dir:
        raise ApiError("invalid_argument", "source_is_dir does not match the uploaded tar")
    if dest.endswith("/") or target.is_dir():
        target = target / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source_is_dir:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        if target.is_dir():
            raise ApiError("invalid_argument", f"{dest} is a directory")
        os.replace(source, target)


def _inside(base: str, path: str) -> bool:
    return path == base or path.startswith(base + os.sep)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, tree: Path, owner: BoxUser):
    """Extract one member into `tree` if it is safe, refusing the archive otherwise."""
    name = member.name
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise ApiError("invalid_argument", f"tar member {name!r} escapes the destination")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return  # devices and fifos are not files a copy carries
    base = os.path.realpath(tree)
    # Checked against what is on disk now, so a link extracted earlier cannot redirect it.
    parent = os.path.realpath(os.path.join(tree, os.path.dirname(name)))
    if not _inside(base, parent):
        raise ApiError("invalid_argument", f"tar member {name!r} is written through a link")
    if member.islnk() and not _inside(base, os.path.realpath(os.path.join(tree, member.linkname))):
        raise ApiError("invalid_argument", f"hard link {name!r} points outside the upload")
    member.uid, member.gid, member.uname, member.gname = owner.uid, owner.gid, "", ""
    member.mode &= 0o1777  # no set-uid/set-gid bits from a client
    # Our own checks above replace the PEP 706 filters where they exist.
    trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    tar.extract(member, tree, **trusted)


async def copy_out(request: web.Request, rootfs: Path, staging_root: Path) -> web.StreamResponse:
    src = _box_path(request)
    target = _resolve(rootfs, src)
    data, is_dir = await asyncio.to_thread(_pack, target, src, staging_root)
    with data:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/x-tar",
                "x-boxlite-source-is-dir": "true" if is_dir else "false",
            }
        )
        response.content_length = os.fstat(data.fileno()).st_size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(data.read, STREAM_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


def _pack(target: Path, src: str, staging_root: Path) -> tuple[BinaryIO, bool]:
    """Tar `target` under SRC's basename into an unlinked temp file; (file, is_dir)."""
    if not os.path.lexists(target):
        raise ApiError("not_found", f"{src} does not exist in the box")
    staging_root.mkdir(parents=True, exist_ok=True)
    # No name, so nothing to clean up; the caller closes it once streamed.
    data = tempfile.TemporaryFile(dir=staging_root)  # noqa: SIM115
    try:
        with tarfile.open(fileobj=data, mode="w") as tar:
            tar.add(target, arcname=PurePosixPath(src).name or "rootfs", recursive=True)
        data.seek(0)
    except BaseException:
        data.close()
        raise
    return data, target.is_dir()
