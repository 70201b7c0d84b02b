"""Box-create validation against the per-box quota, with and without the two API faults."""

from __future__ import annotations

import pytest

from standin.api.store import Quota
from standin.api.validation import check_create_body, check_sizes
from standin.errors import ApiError
from standin.faults import parse_faults

QUOTA = Quota(max_cpu_per_box=4, max_memory_per_box=8, max_disk_per_box=20)
CLAMP = parse_faults(["quota-clamp"])
COERCE = parse_faults(["validation-coerce"])


def code_of(body: dict, quota: Quota = QUOTA, faults=None) -> tuple[str, int]:
    with pytest.raises(ApiError) as info:
        check_sizes(body, quota, faults or {})
    return info.value.code, info.value.status


def test_defaults_and_limits_pass() -> None:
    sizes = check_sizes({}, QUOTA, {})
    assert (sizes.cpus, sizes.memory_mib, sizes.disk_size_gb) == (1, 512, None)
    sizes = check_sizes({"cpus": 4, "memory_mib": 8192, "disk_size_gb": 20}, QUOTA, {})
    assert (sizes.cpus, sizes.memory_mib, sizes.disk_size_gb) == (4, 8192, 20)
    assert sizes.fault_notes == []


@pytest.mark.parametrize(
    "body",
    [
        {"cpus": 0},
        {"cpus": -1},
        {"memory_mib": -1},
        {"memory_mib": 64},
        {"disk_size_gb": 0},
        {"cpus": "2"},
        {"cpus": 1.5},
        {"cpus": True},  # a JSON bool is not an int, even though Python says so
        {"memory_mib": [512]},
    ],
)
def test_malformed_is_400_invalid_argument(body: dict) -> None:
    assert code_of(body) == ("invalid_argument", 400)


@pytest.mark.parametrize(
    "body",
    [{"cpus": 999}, {"cpus": 5}, {"memory_mib": 8_192_000_000}, {"disk_size_gb": 99_999_999}],
)
def test_over_quota_is_429_resource_exhausted(body: dict) -> None:
    assert code_of(body) == ("resource_exhausted", 429)


def test_fresh_org_allows_nothing() -> None:
    # Zero limits (a fresh org, before fixture setup) refuse even the defaults.
    assert code_of({}, Quota()) == ("resource_exhausted", 429)


def test_quota_clamp_fault_clamps_both_ways() -> None:
    sizes = check_sizes({"cpus": 999, "memory_mib": -1, "disk_size_gb": 10**8}, QUOTA, CLAMP)
    assert (sizes.cpus, sizes.memory_mib, sizes.disk_size_gb) == (4, 128, 20)
    assert [n[:2] for n in sizes.fault_notes] == [
        ("quota-clamp", "cpus"),
        ("quota-clamp", "memory_mib"),
        ("quota-clamp", "disk_size_gb"),
    ]
    # It clamps ranges; it does not make a string a number or a zero quota usable.
    assert code_of({"cpus": "9"}, faults=CLAMP) == ("invalid_argument", 400)
    assert code_of({}, Quota(), CLAMP) == ("resource_exhausted", 429)


def test_validation_coerce_fault_replaces_zero_only() -> None:
    sizes = check_sizes({"cpus": 0, "memory_mib": 0}, QUOTA, COERCE)
    assert (sizes.cpus, sizes.memory_mib) == (1, 512)
    assert sizes.fault_notes == [
        ("validation-coerce", "cpus", 0, 1),
        ("validation-coerce", "memory_mib", 0, 512),
    ]
    assert code_of({"cpus": -1}, faults=COERCE) == ("invalid_argument", 400)
    assert code_of({"cpus": 999}, faults=COERCE) == ("resource_exhausted", 429)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_argument"),
        ({}, "invalid_argument"),  # no image
        ({"image": ""}, "invalid_argument"),
        ({"image": "x", "name": 3}, "invalid_argument"),
        ({"rootfs_path": "/r"}, "unsupported"),
    ],
)
def test_create_body_shape(body: object, code: str) -> None:
    with pytest.raises(ApiError) as info:
        check_create_body(body)
    assert info.value.code == code
