"""The image catalog over REST: booting an unregistered image is what records it.

Port of upstream's apps/e2e/cases/test_images_catalog.py (POL-544) against
apps/api/src/boxlite-rest/boxlite-image.controller.ts: an image that is not a curated one
boots a box with no registration call, the pull that made it work writes the catalog entry
(`rt.images.list()/get()/usage()/remove()` on `/v1/{prefix}/images`), a second box on the
same reference adds no version, a box still holding the image blocks its removal (naming the
box), removal frees the name and the count, a pull that fails records nothing, and a box on a
curated image never touches the catalog. `BOXLITE_E2E_CATALOG_IMAGE` picks the image: on the
stand-in the busybox image named through the local registry's host (so no curated snapshot
matches it), on the cloud upstream's default. Upstream's runner reports the pull on its next
sync (up to ~25 s), so the cloud waits that window out; the stand-in records synchronously.
The stand-in's `catalog-unrecorded` fault boots the box and never writes the entry.
"""

from __future__ import annotations

import asyncio

import boxlite
import pytest
import pytest_asyncio

from lib.harness.case_helpers import assert_typed

REPORT_WINDOW_S = 25.0


def _name(ref: str) -> str:
    """The catalog name: the reference without tag or digest."""
    repo = ref.split("@", 1)[0]
    head, colon, tag = repo.rpartition(":")
    return head if colon and "/" not in tag else repo


@pytest.fixture
def catalog_image(e2e_config) -> str:
    return e2e_config.catalog_image


@pytest.fixture
def window(e2e_config) -> float:
    return REPORT_WINDOW_S if e2e_config.stack == "cloud" else 0.0


async def _listed(rt, name: str) -> list:
    return [info for info in await rt.images.list() if info.repository == name]


async def _await_listed(rt, name: str, window: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    while True:
        if await _listed(rt, name):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(1)


async def _drop(rt, name: str) -> None:
    try:
        await rt.images.remove(name)
    except (boxlite.NotFoundError, boxlite.InvalidStateError):
        pass  # absent, or still held by a box this fixture does not own


@pytest_asyncio.fixture(loop_scope="session")
async def clean(rt, catalog_image):
    """The catalog without our entry before and after each test."""
    await _drop(rt, _name(catalog_image))
    yield _name(catalog_image)
    await _drop(rt, _name(catalog_image))


@pytest.mark.catches("catalog-unrecorded")
async def test_booting_an_unregistered_image_records_it(
    rt, box_factory, catalog_image, clean, window
):
    assert not await _listed(rt, clean), f"{clean} was listed before any box booted from it"
    await box_factory(image=catalog_image)
    assert await _await_listed(rt, clean, window), f"{clean} never entered the catalog"
    detail = await rt.images.get(clean)
    assert detail.versions, "recorded, but with no version"
    version = detail.versions[0]
    assert version.digest.startswith("sha256:"), version.digest
    assert version.size_bytes is not None and version.size_bytes > 0, version.size_bytes
    assert version.source_ref == catalog_image
    assert {info.id for info in await _listed(rt, clean)} == {version.digest}
    usage = await rt.images.usage()
    assert usage.count >= 1 and usage.known_bytes >= version.size_bytes, usage


@pytest.mark.catches("catalog-unrecorded")
async def test_a_second_box_adds_no_second_version(rt, box_factory, catalog_image, clean, window):
    await box_factory(image=catalog_image)
    assert await _await_listed(rt, clean, window)
    before = await rt.images.get(clean)
    await box_factory(image=catalog_image)
    await asyncio.sleep(window)  # cloud only: let a late report land before comparing
    after = await rt.images.get(clean)
    assert len(after.versions) == len(before.versions), "a second box recorded another version"


@pytest.mark.catches("catalog-unrecorded")
async def test_a_box_still_holding_it_blocks_removal(rt, box_factory, catalog_image, clean, window):
    held = await box_factory(image=catalog_image)
    assert await _await_listed(rt, clean, window)
    with pytest.raises(boxlite.BoxliteError) as refusal:
        await rt.images.remove(clean)
    assert_typed(refusal.value, boxlite.InvalidStateError)
    assert held.id in str(refusal.value), f"the refusal does not name the box: {refusal.value}"


@pytest.mark.catches("catalog-unrecorded")
async def test_removal_frees_the_name_and_the_count(rt, image, catalog_image, clean, window):
    made = await rt.create(boxlite.BoxOptions(image=catalog_image))
    try:
        assert await _await_listed(rt, clean, window)
    finally:
        await rt.remove(made.id, force=True)
    before = (await rt.images.usage()).count
    await rt.images.remove(clean)
    assert not await _listed(rt, clean)
    assert (await rt.images.usage()).count == before - 1
    with pytest.raises(boxlite.BoxliteError) as again:
        await rt.images.remove(clean)
    assert_typed(again.value, boxlite.NotFoundError)


async def test_a_pull_that_fails_records_nothing(rt, catalog_image):
    repo = _name(catalog_image)
    unpullable = f"{repo.rsplit('/', 1)[0]}/boxlite-e2e-does-not-exist:v1"
    with pytest.raises(boxlite.BoxliteError) as failure:
        made = await rt.create(boxlite.BoxOptions(image=unpullable))
        await rt.remove(made.id, force=True)
    assert_typed(failure.value)
    assert _name(unpullable) in str(failure.value) or "pull" in str(failure.value).lower()
    assert not await _listed(rt, _name(unpullable)), "a failed pull entered the catalog"


async def test_curated_boxes_never_touch_the_catalog(rt, box_factory, image):
    async def snapshot():
        usage = await rt.images.usage()
        names = {info.repository for info in await rt.images.list()}
        return names, (usage.count, usage.known_bytes)

    before = await snapshot()
    await box_factory(image=image)
    assert await snapshot() == before, "a box on a curated image changed the catalog"
