"""Disk I/O ceilings (`disk_io`) at the REST boundary: well-formed accepted, zero refused.

Port of upstream's apps/e2e/cases/test_disk_io_limits.py. The runner enforces the ceilings
through the box's cgroup, so what the API must get right is the boundary: a well-formed
`disk_io` creates the box (201, not 5xx); a zero ceiling, which io.max cannot express and the
runtime rejects, is a 400 at the boundary instead of a box that fails later on the runner;
and an unknown key inside `disk_io` is refused like one anywhere else (`DiskIoLimitsDto`,
`@IsInt() @Min(1)` on each field, whitelisted). Upstream traced its accepted-anything
creates to a ValidationPipe without `whitelist` (boxlite-ai/boxlite#662), which the
stand-in's `validation-lenient` fault reproduces.
"""

from __future__ import annotations

import pytest

from lib.harness.case_helpers import describe, refused, remove_created

CEILINGS = ("read_bps", "write_bps", "read_iops", "write_iops")


async def test_partial_disk_io_creates_the_box(api, image):
    resp = await api.create_box(
        {"image": image, "disk_io": {"write_bps": 4 * 1024 * 1024, "read_iops": 500}}
    )
    assert resp.status_code == 201, describe(resp)
    await remove_created(api, resp)


async def test_every_ceiling_at_once_creates_the_box(api, image):
    resp = await api.create_box({"image": image, "disk_io": dict.fromkeys(CEILINGS, 1000)})
    assert resp.status_code == 201, describe(resp)
    await remove_created(api, resp)


@pytest.mark.catches("validation-lenient")
@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("ceiling", CEILINGS)
async def test_a_ceiling_below_one_is_400(api, image, ceiling, value):
    resp = await api.create_box({"image": image, "disk_io": {ceiling: value}})
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])
    assert ceiling in resp.text, f"the refusal does not name {ceiling}: {describe(resp)}"


@pytest.mark.parametrize("value", [1.5, "1000", True, [1]])
async def test_a_ceiling_that_is_not_a_positive_integer_is_400(api, image, value):
    resp = await api.create_box({"image": image, "disk_io": {"read_bps": value}})
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])


@pytest.mark.catches("validation-lenient")
async def test_an_unknown_disk_io_key_is_400(api, image):
    resp = await api.create_box({"image": image, "disk_io": {"bogus": 1}})
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])
    assert "bogus" in resp.text, describe(resp)


async def test_disk_io_that_is_not_an_object_is_400(api, image):
    resp = await api.create_box({"image": image, "disk_io": [1, 2]})
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])
