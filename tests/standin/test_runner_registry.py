"""The runner pulling its image from a real local registry (skopeo + umoci via ImageStore)."""

from __future__ import annotations

import boxlite
import pytest

from tests.standin import registry_fixtures
from tests.standin.runner_fixtures import run

pytestmark = pytest.mark.timeout(240)

local_registry = registry_fixtures.local_registry
busybox_image = registry_fixtures.busybox_image


async def test_box_from_a_registry_image(runner_factory, busybox_image):
    runner = runner_factory(image_dirs={}, registry=busybox_image.registry)
    rt = runner.sdk()
    box = await rt.create(boxlite.BoxOptions(image=busybox_image.ref))
    try:
        result = await run(box, "sh", "-c", ". /etc/os-release; echo $ID; echo $PATH")
        assert result.stdout.splitlines() == [
            "boxlite-e2e-busybox",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        # A second box of the same digest comes from the cache: no second pull.
        again = await rt.create(
            boxlite.BoxOptions(image=f"{busybox_image.registry}/e2e/busybox@{busybox_image.digest}")
        )
        await rt.remove(again.id, force=True)
    finally:
        await rt.remove(box.id, force=True)
    pulls = list((runner.state_dir / "images" / "oci").iterdir())
    assert [p.name for p in pulls] == [busybox_image.digest.replace(":", "-", 1)]


async def test_image_missing_from_the_registry_is_image_error(runner_factory, busybox_image):
    runner = runner_factory(image_dirs={}, registry=busybox_image.registry)
    with pytest.raises(boxlite.ImageError) as caught:
        await runner.sdk().create(boxlite.BoxOptions(image="e2e/not-pushed:never"))
    assert "not found" in str(caught.value)
