"""Which SDKs this host can drive, and the reason when it cannot.

Resolved once by `lib.harness.config` (the only reader of the environment) into
`Config.sdks`; the plugin turns an SDK that is not available into "not applicable" with
this reason on every axis case of that SDK, never a silent pass.

- `python`: always (the harness's own `boxlite` package).
- `node`: a `node` binary (`BOXLITE_E2E_NODE`, else `node` on PATH) and the pinned
  `@boxlite-ai/boxlite` with its native package under `drivers/node/node_modules`
  (`make setup` runs `npm ci` there; on the cloud stack bootstrap builds the SDK from the
  checkout and installs it there instead).
- `go`: the Go driver binary (`BOXLITE_E2E_GO_DRIVER`, else `boxlite-e2e-go-driver` in the
  layout's bin dir, where the cloud bootstrap puts it after building `drivers/go` against the
  checkout's `sdks/go`, the `go_driver` step). It needs that checkout, its Go toolchain and
  its staged libboxlite.a, so it does not exist on other hosts.
- `BOXLITE_E2E_SDKS=python,node` restricts the axis; an SDK left out is reported as not
  selected (still not a pass).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lib.errors import HarnessError
from lib.harness.sdk import SDKS
from lib.names import REPO_ROOT

NODE_DRIVER_DIR = REPO_ROOT / "drivers" / "node"
NODE_PACKAGE = "@boxlite-ai/boxlite"
GO_DRIVER_BINARY = "boxlite-e2e-go-driver"


@dataclass(frozen=True)
class Availability:
    """Whether one SDK can be driven here, how, and why not."""

    sdk: str
    available: bool
    reason: str | None = None  # why not (None when available)
    argv: tuple[str, ...] = ()  # the driver command (empty for python)
    version: str | None = None
    source: str = field(default="", compare=False)  # where it was found

    def to_json(self) -> dict:
        """For summary.json and the run header."""
        return {
            "sdk": self.sdk,
            "available": self.available,
            "reason": self.reason,
            "version": self.version,
            "driver": list(self.argv),
            "source": self.source,
        }


class SdkSelectionError(HarnessError, ValueError):
    """BOXLITE_E2E_SDKS names an SDK the axis does not know."""


def parse_selection(raw: str | None) -> frozenset[str] | None:
    """BOXLITE_E2E_SDKS as a set (None: all); SdkSelectionError for unknown names."""
    if raw is None:
        return None
    chosen = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SDKS))
    if unknown or not chosen:
        raise SdkSelectionError(
            f"BOXLITE_E2E_SDKS={raw!r}: expected a comma list of {', '.join(SDKS)}"
        )
    return frozenset(chosen)


def _node_package_version(driver_dir: Path) -> tuple[str | None, str | None]:
    """(version, None) when the SDK and a native package are installed, else (None, why)."""
    modules = driver_dir / "node_modules" / "@boxlite-ai"
    try:
        doc = json.loads((modules / "boxlite" / "package.json").read_text())
    except (OSError, ValueError):
        return None, (
            f"{NODE_PACKAGE} is not installed in {driver_dir}/node_modules "
            "(run `make setup`, which runs `npm ci` there)"
        )
    # The npm release ships the binding as a platform package; a checkout build (linked by
    # the cloud bootstrap) has it in the SDK's own native/ directory.
    natives = [p for p in modules.glob("boxlite-*") if any(p.glob("*.node"))]
    natives += list((modules / "boxlite" / "native").glob("*.node"))
    if not natives:
        return None, (
            f"{NODE_PACKAGE} {doc.get('version')} has no native package for this platform "
            f"in {modules} (npm skips optional dependencies it cannot install)"
        )
    return str(doc.get("version") or "unknown"), None


def detect_node(node: str | None, path: str | None, driver_dir: Path = NODE_DRIVER_DIR):
    """The Node SDK: a node binary and the installed @boxlite-ai/boxlite with a binding."""
    binary = shutil.which(node, path=path) if node else shutil.which("node", path=path)
    if binary is None:
        why = (
            f"BOXLITE_E2E_NODE={node!r} is not an executable"
            if node
            else "no `node` on PATH (make setup installs Debian's nodejs)"
        )
        return Availability("node", False, why)
    version, why = _node_package_version(driver_dir)
    if version is None:
        return Availability("node", False, why)
    script = driver_dir / "driver.mjs"
    sdk = driver_dir / "node_modules" / "@boxlite-ai" / "boxlite"
    built = f"checkout build {sdk.resolve()}" if sdk.is_symlink() else "npm release"
    return Availability(
        "node",
        True,
        argv=(binary, str(script)),
        version=version,
        source=f"node from {'BOXLITE_E2E_NODE' if node else 'PATH'}; SDK: {built}",
    )


def detect_go(go_driver: str | None, bin_dir: Path):
    """The Go SDK: the Go driver binary, given or built by the cloud bootstrap."""
    if go_driver:
        if os.access(go_driver, os.X_OK) and Path(go_driver).is_file():
            return Availability("go", True, argv=(go_driver,), source="BOXLITE_E2E_GO_DRIVER")
        return Availability("go", False, f"BOXLITE_E2E_GO_DRIVER={go_driver!r} is not executable")
    built = bin_dir / GO_DRIVER_BINARY
    if os.access(built, os.X_OK) and built.is_file():
        return Availability("go", True, argv=(str(built),), source="bootstrap build")
    return Availability(
        "go",
        False,
        f"no Go driver at {built} (the cloud bootstrap's go_driver step builds it against the "
        "checkout's sdks/go, and removes it when that build fails; or set BOXLITE_E2E_GO_DRIVER)",
    )


def detect_all(
    *,
    env: Mapping[str, str],
    bin_dir: Path,
    python_version: str,
    selection: Iterable[str] | None = None,
) -> dict[str, Availability]:
    """Every SDK of the axis, available or with the reason it is not."""
    found = {
        "python": Availability("python", True, version=python_version, source="harness venv"),
        "node": detect_node(env.get("BOXLITE_E2E_NODE") or None, env.get("PATH")),
        "go": detect_go(env.get("BOXLITE_E2E_GO_DRIVER") or None, bin_dir),
    }
    if selection is not None:
        chosen = set(selection)
        for sdk in SDKS:
            if sdk not in chosen:
                found[sdk] = Availability(
                    sdk, False, f"not selected (BOXLITE_E2E_SDKS={','.join(sorted(chosen))})"
                )
    return found
