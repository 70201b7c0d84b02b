"""What kind of BoxLite checkout `--repo` is: its era and layout, read from files that exist.

Why this exists: upstream `boxlite-ai/boxlite` changed shape several times, and every build
or fixture step that assumed one shape broke on another (issue 13): the Go SDK moved from
`sdks/go/libboxlite.a` to cgo files that link `lib/linux-x64-gnu/libboxlite.a` (prebuilt,
`bridge_cgo_prebuilt.go`) or `target/debug/libboxlite.a` under `-tags boxlite_dev`
(`bridge_cgo_dev.go`); the runner grew `//go:embed static/*` daemon assets
(`apps/runner/pkg/daemon/assets.go`); `apps/package.json` moved to `packageManager:
yarn@4.x`; snapshot templates gave way to an image catalog (`app.service.ts` stopped
seeding them, `apps/api/src/image/`); the admin quota route took `total*Quota` /
`maxConcurrentBoxes` (`admin/dto/organization-quota.dto.ts`); older APIs `getOrThrow` the
`TRANSIENT_REGISTRY_*` / `INTERNAL_REGISTRY_*` settings at start-up (`app.service.ts`).

So nothing is guessed from a commit date: `detect()` looks at the files, returns one
`Checkout` saying what it found, and raises `UnknownLayout` listing what it saw when the
layout is not one the harness knows how to build. Detection reads files only; it never
runs git, a compiler or the network, so preflight and `--dry-run` can call it freely.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lib.errors import HarnessError

# The cgo LDFLAGS line naming libboxlite.a for Linux x86-64 (`linux` or `linux,amd64`).
_LDFLAGS = re.compile(
    r"^#cgo\s+linux(?:,amd64)?\s+LDFLAGS:\s*\$\{SRCDIR\}/(\S*libboxlite\.a)", re.M
)
_BUILD_TAG = re.compile(r"^//go:build\s+(.+)$", re.M)
_PACKAGE_MANAGER = re.compile(r"^yarn@(\d+)\.")
_PERMISSION = re.compile(r"=\s*'([a-z_]+:[a-z_]+)'")
# Go SDK directories the cgo files have lived in, newest first.
GO_SDK_DIRS = ("sdks/go", "sdks/go/pkg/boxlite")


class UnknownLayout(HarnessError):
    """The checkout is not a layout the harness knows; `seen` says what was found."""

    def __init__(self, root: Path, problems: list[str], seen: list[str]):
        self.root, self.problems, self.seen = root, problems, seen
        super().__init__(
            f"{root}: not a BoxLite layout this harness can build ({'; '.join(problems)}). "
            f"Seen: {', '.join(seen) or 'nothing'}"
        )


@dataclass(frozen=True)
class GoLink:
    """How the Go SDK links libboxlite.a: where it must be, with which build tag.

    `mode`: `srcdir` (no tag, `sdks/go/libboxlite.a`, the first era), `prebuilt` (default
    build, `lib/<platform>/libboxlite.a`, which `go generate` fills with a *release* download
    unless we put ours there), `dev` (`-tags boxlite_dev`, a cargo target dir's library).
    """

    mode: str
    cgo_file: str  # relative to the checkout
    library: str  # relative to the checkout: where the linker reads it
    tags: tuple[str, ...]
    profile: str  # cargo profile whose output the link expects: release | debug


@dataclass(frozen=True)
class Checkout:
    """What the checkout's files say about its era: cases, images, Yarn, Go link, submodules."""

    root: Path
    era: str  # a short name for the combination below (for reports)
    cases_dir: str | None  # where upstream's own e2e cases live, if any
    images: str  # "catalog" (image catalog) | "snapshots" (snapshot templates)
    yarn_major: int
    yarn_lock: bool  # apps/yarn.lock exists (upstream does not always commit one)
    go_link: GoLink
    submodules: tuple[str, ...]  # paths from .gitmodules
    runner_embed: bool  # apps/runner/pkg/daemon embeds static/* (assets built first)
    computer_use: bool  # apps/libs/computer-use exists (a second embedded asset)
    runtime_script: bool  # scripts/build/build-runtime.sh (shim, guest, libkrunfw)
    fix_symbols_script: bool  # scripts/build/fix-go-symbols.sh
    registry_placeholders: bool  # app.service getOrThrow's TRANSIENT/INTERNAL registry
    ssh_gateway_key: bool  # api-key.strategy getOrThrow's sshGateway.apiKey
    quota_api: str  # "admin-total" (admin DTO) | "per-sandbox" (organization quota DTO)
    permissions: tuple[str, ...]  # OrganizationResourcePermission values
    seen: tuple[str, ...] = field(default=())

    def record(self) -> dict:
        """JSON-able summary (bootstrap keeps it in stack.json for fixture setup)."""
        doc = asdict(self)
        doc["root"] = str(self.root)
        return doc


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def yarn_major(apps: Path) -> int | None:
    """Yarn major from apps/package.json `packageManager` (absent: classic Yarn 1)."""
    try:
        manifest = json.loads((apps / "package.json").read_text())
    except (OSError, ValueError):
        return None
    pm = manifest.get("packageManager") if isinstance(manifest, dict) else None
    if not pm:
        return 1
    found = _PACKAGE_MANAGER.match(str(pm))
    return int(found.group(1)) if found else None


def submodule_paths(root: Path) -> tuple[str, ...]:
    """The submodule paths `.gitmodules` declares (empty when there is none)."""
    return tuple(re.findall(r"^\s*path\s*=\s*(\S+)\s*$", _read(root / ".gitmodules"), re.M))


def _runner_imports_pkg(root: Path) -> bool:
    """Does the runner import the SDK's `pkg/boxlite` package (the f39e20c-era layout)?"""
    for go_file in (root / "apps/runner").rglob("*.go"):
        if "sdks/go/pkg/boxlite" in _read(go_file):
            return True
    return False


def go_link(root: Path) -> GoLink | None:
    """Read the Go SDK's cgo files: which one links libboxlite.a on linux, from where.

    The package the runner imports decides which directory counts, when both have cgo files.
    """
    found: list[tuple[str, str, str]] = []  # (file, build expression, library)
    dirs = tuple(reversed(GO_SDK_DIRS)) if _runner_imports_pkg(root) else GO_SDK_DIRS
    for rel in dirs:
        sdk = root / rel
        if not sdk.is_dir():
            continue
        for go_file in sorted(sdk.glob("*.go")):
            text = _read(go_file)
            lib = _LDFLAGS.search(text)
            if not lib:
                continue
            tag = _BUILD_TAG.search(text)
            library = (go_file.parent / lib.group(1)).resolve()
            try:
                library_rel = str(library.relative_to(root.resolve()))
            except ValueError:
                continue
            expr = tag.group(1).strip() if tag else ""
            found.append((str(go_file.relative_to(root)), expr, library_rel))
        if found:
            break  # the newest directory with cgo files is the one the runner imports
    dev = next((f for f in found if f[1] == "boxlite_dev"), None)
    if dev is not None:
        profile = "debug" if "/debug/" in dev[2] else "release"
        return GoLink("dev", dev[0], dev[2], ("boxlite_dev",), profile)
    prebuilt = next((f for f in found if f[1] == "!boxlite_dev"), None)
    if prebuilt is not None:
        return GoLink("prebuilt", prebuilt[0], prebuilt[2], (), "release")
    plain = next((f for f in found if f[1] == ""), None)
    if plain is not None:
        return GoLink("srcdir", plain[0], plain[2], (), "release")
    return None


def detect(root: Path) -> Checkout:
    """The checkout's layout, or UnknownLayout naming what was missing and what was seen."""
    root = Path(root)
    seen: list[str] = []
    problems: list[str] = []
    apps = root / "apps"
    for rel in ("apps/runner/go.mod", "apps/api/src/main.ts", "apps/package.json"):
        if (root / rel).is_file():
            seen.append(rel)
        else:
            problems.append(f"no {rel}")
    major = yarn_major(apps) if (apps / "package.json").is_file() else None
    if (apps / "package.json").is_file():
        if major is None:
            problems.append("apps/package.json packageManager is not yarn@N.x")
        else:
            seen.append(f"yarn {major}")
    link = go_link(root)
    if link is None:
        problems.append("no Go SDK cgo file linking libboxlite.a for linux")
    else:
        seen.append(f"go link {link.mode} ({link.cgo_file} -> {link.library})")
    subs = submodule_paths(root)
    if subs:
        seen.append(f"{len(subs)} submodules")
    api_src = apps / "api/src"
    catalog = (api_src / "image/image.module.ts").is_file()
    snapshot_ctl = any(api_src.glob("*/controllers/snapshot.controller.ts"))
    if catalog:
        seen.append("image catalog")
    if snapshot_ctl:
        seen.append("snapshot routes")
    if not catalog and not snapshot_ctl and not problems:
        problems.append("neither an image catalog nor snapshot routes in apps/api/src")
    cases = next((c for c in ("apps/e2e/cases", "apps/e2e", "e2e") if (root / c).is_dir()), None)
    if cases:
        seen.append(f"cases in {cases}")
    if problems:
        raise UnknownLayout(root, problems, seen)
    assert link is not None and major is not None
    app_service = _read(api_src / "app.service.ts")
    strategy = _read(api_src / "auth/api-key.strategy.ts")
    images = "catalog" if catalog and not snapshot_ctl else "snapshots"
    admin_dto = api_src / "admin/dto/organization-quota.dto.ts"
    quota_api = "admin-total" if admin_dto.is_file() else "per-sandbox"
    permissions = tuple(
        _PERMISSION.findall(
            _read(api_src / "organization/enums/organization-resource-permission.enum.ts")
        )
    )
    runner_embed = "go:embed static/*" in _read(root / "apps/runner/pkg/daemon/assets.go")
    era = f"{images}/{link.mode}/yarn{major}" + ("/embed" if runner_embed else "")
    return Checkout(
        root=root,
        era=era,
        cases_dir=cases,
        images=images,
        yarn_major=major,
        yarn_lock=(apps / "yarn.lock").is_file(),
        go_link=link,
        submodules=subs,
        runner_embed=runner_embed,
        computer_use=(apps / "libs/computer-use").is_dir(),
        runtime_script=(root / "scripts/build/build-runtime.sh").is_file(),
        fix_symbols_script=(root / "scripts/build/fix-go-symbols.sh").is_file(),
        registry_placeholders="transientRegistry" in app_service,
        ssh_gateway_key="sshGateway" in strategy,
        quota_api=quota_api,
        permissions=permissions,
        seen=tuple(seen),
    )
