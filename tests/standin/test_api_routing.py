"""Prefix splitting and route matching for `/api/v1/{prefix}/boxes...`."""

from __future__ import annotations

import pytest

from standin.api.routing import PrefixMismatch, Route, match_route, split_prefix


@pytest.mark.parametrize(
    ("rest", "org", "tail"),
    [
        ("org-1/boxes", "org-1", ["boxes"]),
        ("org-123/team-a/boxes/bx1/exec", "org-123/team-a", ["boxes", "bx1", "exec"]),
        # An org whose own segments look like protocol roots still wins: it is checked first.
        ("boxes/metrics/boxes", "boxes/metrics", ["boxes"]),
        ("org-1/metrics", "org-1", ["metrics"]),
        # No prefix is the caller's own org (upstream mounts v1/boxes and v1/:prefix/boxes).
        ("boxes", "org-1", ["boxes"]),
        ("volumes/v1", "org-1", ["volumes", "v1"]),
        ("org-1/config", "org-1", ["config"]),
    ],
)
def test_split_prefix(rest: str, org: str, tail: list[str]) -> None:
    assert split_prefix(rest, org) == tail


@pytest.mark.parametrize(
    ("rest", "prefix"),
    [
        ("other/boxes/bx1", "other"),
        ("org-123/boxes", "org-123"),  # only part of a multi-segment org
        ("org-123/team-b/boxes", "org-123/team-b"),
    ],
)
def test_foreign_prefix_is_a_mismatch(rest: str, prefix: str) -> None:
    with pytest.raises(PrefixMismatch) as info:
        split_prefix(rest, "org-123/team-a")
    assert info.value.prefix == prefix


def test_no_protocol_root_is_no_route() -> None:
    assert split_prefix("org-1", "org-1") is None
    # The caller's org followed by junk is an unknown route (404), not a foreign prefix.
    assert match_route(split_prefix("org-1/x/metrics", "org-1")) is None
    assert split_prefix("whatever/else", "org-1") is None


@pytest.mark.parametrize(
    ("tail", "route"),
    [
        (["boxes"], Route("boxes")),
        (["metrics"], Route("metrics")),
        (["boxes", "b"], Route("box", "b")),
        (["boxes", "b", "start"], Route("box_action", "b", action="start")),
        (["boxes", "b", "stop"], Route("box_action", "b", action="stop")),
        (["boxes", "b", "exec"], Route("exec", "b", action="exec")),
        (["boxes", "b", "attach"], Route("box_attach", "b", action="attach")),
        (["boxes", "b", "files"], Route("files", "b", action="files")),
        (["boxes", "b", "metrics"], Route("box_metrics", "b", action="metrics")),
        (["boxes", "b", "executions", "e"], Route("execution", "b", "e")),
        (
            ["boxes", "b", "executions", "e", "signal"],
            Route("execution_action", "b", "e", "signal"),
        ),
        (
            ["boxes", "b", "executions", "e", "resize"],
            Route("execution_action", "b", "e", "resize"),
        ),
        (["boxes", "b", "executions", "e", "attach"], Route("execution_attach", "b", "e")),
    ],
)
def test_match_route(tail: list[str], route: Route) -> None:
    assert match_route(tail) == route


@pytest.mark.parametrize(
    "tail",
    [
        [],
        ["volumes", "v", "x"],
        ["boxes", ""],
        ["boxes", "b", "clone"],
        ["boxes", "b", "snapshots", "s"],
        ["boxes", "b", "executions", ""],
        ["boxes", "b", "executions", "e", "attach", "x"],
        ["boxes", "b", "executions", "e", "stdin"],
    ],
)
def test_unknown_routes(tail: list[str]) -> None:
    assert match_route(tail) is None


@pytest.mark.parametrize(
    ("tail", "route"),
    [
        (["config"], Route("config")),
        (["volumes"], Route("volumes")),
        (["volumes", "vol-1"], Route("volume", "vol-1")),
        (["images"], Route("images")),
        (["images", "usage"], Route("image_usage")),
        (["images", "alpine"], Route("image", "alpine")),
        (["volumes", "a", "b"], None),
    ],
)
def test_catalog_routes(tail: list[str], route: Route | None) -> None:
    assert match_route(tail) == route
