"""Image references -> read-only rootfs templates, plus the image's runtime defaults.

Three sources, first match wins:
1. `--image-dir REF=PATH`: a local rootfs directory served under an image name, so
   self-tests and quick runs need no registry;
2. `rootfs_path` in the create request: a rootfs directory on the runner host (the SDK's
   `BoxOptions(rootfs_path=...)`);
3. everything else: `standin.images.ImageStore` pulls REF (refs without a host resolve
   against `--registry`) once per digest into `{state}/images` and unpacks it with umoci.

The image's own config (env, working dir, cmd) is read from the OCI runtime `config.json`
umoci writes beside the rootfs, when there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from standin.errors import ApiError
from standin.images import ImageError, ImageStore


@dataclass(frozen=True)
class ImageDefaults:
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    args: list[str] = field(default_factory=list)


def image_defaults(rootfs: Path) -> ImageDefaults:
    """Env, cwd and args of the image's process, from umoci's bundle config.json."""
    config = Path(rootfs).parent / "config.json"
    try:
        process = json.loads(config.read_text()).get("process") or {}
    except (OSError, ValueError):
        return ImageDefaults()
    env = {}
    for item in process.get("env") or []:
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = value
    args = [str(a) for a in process.get("args") or []]
    return ImageDefaults(env=env, cwd=str(process.get("cwd") or "/"), args=args)


class ImageSource:
    def __init__(self, image_dirs: dict[str, Path], cache_dir: Path, registry: str):
        self.image_dirs = dict(image_dirs)
        self.cache_dir = cache_dir
        self.registry = registry
        self._store: ImageStore | None = None

    @property
    def store(self) -> ImageStore:
        # Created on first use: a runner serving only local dirs never touches the cache.
        if self._store is None:
            self._store = ImageStore(self.cache_dir, self.registry)
        return self._store

    async def rootfs(self, image: str, rootfs_path: str = "") -> Path:
        """The template directory for a create request; ApiError(422) when unavailable."""
        if rootfs_path:
            return _local_rootfs(rootfs_path)
        if image in self.image_dirs:
            return self.image_dirs[image]
        try:
            return await self.store.rootfs(image)
        except ImageError as exc:
            raise ApiError("image_pull_failed", f"image {image}: {exc}") from None

    async def pull_info(self, image: str) -> dict:
        """Pull `image` (once per digest); its digest, config digest, layer count and size."""
        try:
            await self.store.rootfs(image)
            digest = await self.store.digest(image)
            return self.store.manifest_info(digest)
        except ImageError as exc:
            raise ApiError("image_pull_failed", f"image {image}: {exc}") from None


def _local_rootfs(rootfs_path: str) -> Path:
    path = Path(rootfs_path)
    if not path.is_absolute() or not path.is_dir():
        raise ApiError("image_pull_failed", f"rootfs_path {rootfs_path} is not a directory")
    return path
