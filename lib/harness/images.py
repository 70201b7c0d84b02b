"""Which image a case runs on: `@pytest.mark.image("tools")` and friends, per stack.

Why aliases: a case that needs python3, git and curl says so once (`image("tools")`) and
runs on both stacks: the stand-in's `e2e/tools:stable` (Debian via mmdebstrap, built by
bootstrap) or a real image on the cloud stack. Any other marker argument is taken as an
image reference as it stands.

`available(cfg, ref)` asks the API's snapshot list whether the stack has the image ready
(fixture_setup registers what bootstrap built). A stand-in brought up without the tools
image (`BOXLITE_E2E_TOOLS_IMAGE=0`, as private self-test stacks are, to spare a minutes-long
build) then makes the case "not applicable" with that reason instead of a 422 failure. When
the API cannot say (no admin route, another error) the case runs and shows what happens.
"""

from __future__ import annotations

import httpx

ALIASES: dict[str, dict[str, str]] = {
    # busybox-class: a POSIX shell and coreutils-like applets only
    "minimal": {"standin": "e2e/busybox:stable", "cloud": "alpine:3.23"},
    # python3, git, curl, a package manager, a /workspace-able userland
    "tools": {"standin": "e2e/tools:stable", "cloud": "python:3.12-bookworm"},
}


def resolve(name: str, stack: str) -> str:
    """The image reference `name` stands for on `stack` (a plain ref is itself)."""
    return ALIASES.get(name, {}).get(stack, name)


def available(api_url: str, api_key: str, ref: str, timeout: float = 10.0) -> bool | None:
    """True/False when the API's snapshot list answers for `ref`; None when it cannot say."""
    try:
        response = httpx.get(
            api_url.rstrip("/") + "/snapshots",
            params={"name": ref},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        items = response.json().get("items", [])
    except ValueError:
        return None
    return any(
        s.get("state") == "active" and ref in (s.get("name"), s.get("imageName")) for s in items
    )
