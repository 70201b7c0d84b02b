"""Split `/api/v1/{prefix}/boxes/...` into the org prefix and the box-protocol route.

The SDK inserts `path_prefix` verbatim (no slash trimming), so a prefix may span several
segments (`org-123/team-a`) and aiohttp's `{prefix}` placeholder (one segment) cannot match it.
The app routes `/api/v1/{rest:.*}` here; this module finds where the caller's org prefix ends
and what box-protocol route follows. Pure functions, unit-tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass

# Segments that can start the box-protocol part of a path, i.e. end a prefix.
PROTOCOL_ROOTS = ("boxes", "metrics", "volumes", "images", "config")


@dataclass(frozen=True)
class Route:
    """A parsed box-protocol route. `kind` names the handler; see `match_route`."""

    kind: str
    box: str | None = None
    execution: str | None = None
    action: str | None = None


class PrefixMismatch(Exception):
    """The path carries a prefix that is not the caller's org."""

    def __init__(self, prefix: str):
        super().__init__(prefix)
        self.prefix = prefix


def split_prefix(rest: str, org_id: str) -> list[str] | None:
    """Segments after the org prefix; None if no protocol root follows any prefix.

    No prefix at all (`/v1/boxes`) is the caller's own org: upstream's controllers are
    mounted on both `v1/boxes` and `v1/:prefix/boxes` (the same for volumes and images), so
    a client that skips `/v1/me` still lands in its org. Raises PrefixMismatch when a
    protocol root is present but the prefix before it is not `org_id`.
    """
    segments = rest.split("/")
    org = org_id.split("/")
    if segments[: len(org)] == org and len(segments) > len(org):
        return segments[len(org) :]
    if segments[0] in PROTOCOL_ROOTS:
        return segments
    for index, segment in enumerate(segments):
        if segment in PROTOCOL_ROOTS:
            raise PrefixMismatch("/".join(segments[:index]))
    return None


def match_route(tail: list[str]) -> Route | None:
    """Map the segments after the prefix to a route kind, or None (no such route).

    kinds: boxes, box, box_action (start/stop), exec, execution, execution_action
    (signal/resize), execution_attach, box_attach, files, box_metrics, metrics, config,
    volumes, volume, images, image_usage, image.
    """
    if tail == ["metrics"]:
        return Route("metrics")
    if tail == ["config"]:
        return Route("config")
    if tail and tail[0] in ("volumes", "images"):
        return _catalog_route(tail)
    if not tail or tail[0] != "boxes":
        return None
    if len(tail) == 1:
        return Route("boxes")
    box = tail[1]
    if not box:
        return None
    rest = tail[2:]
    if not rest:
        return Route("box", box)
    if len(rest) == 1:
        kind = {
            "start": "box_action",
            "stop": "box_action",
            "exec": "exec",
            "attach": "box_attach",
            "files": "files",
            "metrics": "box_metrics",
        }.get(rest[0])
        return Route(kind, box, action=rest[0]) if kind else None
    if rest[0] != "executions" or not rest[1]:
        return None
    execution = rest[1]
    if len(rest) == 2:
        return Route("execution", box, execution)
    if len(rest) == 3 and rest[2] in ("signal", "resize"):
        return Route("execution_action", box, execution, rest[2])
    if len(rest) == 3 and rest[2] == "attach":
        return Route("execution_attach", box, execution)
    return None


def _catalog_route(tail: list[str]) -> Route | None:
    """`volumes`, `volumes/{id}`, `images`, `images/usage`, `images/{name}`."""
    root = tail[0]
    if len(tail) == 1:
        return Route(root)
    if root == "images" and tail[1:] == ["usage"]:
        return Route("image_usage")
    if root == "images" and all(tail[1:]):
        # An image name may hold `/` (a registry host and a repository path).
        return Route("image", box="/".join(tail[1:]))
    if len(tail) == 2 and tail[1]:
        return Route("volume", box=tail[1])
    return None
