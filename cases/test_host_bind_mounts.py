"""Host bind mounts over REST: refused or ignored, never mounted.

Upstream's e2e suite grew `test_volume_host_bind_mount.py` because a cloud
API that passed a host path through to the runner would hand a tenant the runner host's
filesystem. The SDK refuses host volumes client-side over REST (it sends managed ones only), so
the server side is reached with hand-built bodies through the `api` fixture, in the shapes a
client could plausibly send. Each must be refused with a 4xx, or, if a server ignores the
field and creates the box (2xx), the host directory must not be visible in it.

Positive controls: the probe is proven able to see a file (one the case writes inside the
box at the same path) and the marker really exists on the host, so "not visible" cannot be
an artefact of a probe that sees nothing. Boxes a 2xx creates are recorded by the raw client
and removed by this case.
"""

from __future__ import annotations

import secrets

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, describe, remove_created, sh

GUEST = "/mnt/e2e-host"


def _shapes(host: str) -> list[list[dict]]:
    return [
        [{"host_path": host, "guest_path": GUEST}],
        [{"host_path": host, "guest_path": GUEST, "read_only": False}],
        [{"source": host, "target": GUEST, "type": "bind"}],
        [{"path": host, "mount_path": GUEST}],
    ]


@pytest.fixture
def host_dir(tmp_path):
    marker = "host-secret-" + secrets.token_hex(8)
    (tmp_path / "marker").write_text(marker + "\n")
    tmp_path.chmod(0o755)
    assert (tmp_path / "marker").read_text() == marker + "\n"  # control: it is there
    return tmp_path, marker


async def test_sdk_refuses_host_volumes_before_any_request(rt, image, host_dir):
    path, _ = host_dir
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.create(boxlite.BoxOptions(image=image, volumes=[(str(path), GUEST)]))
    assert_typed(caught.value, boxlite.UnsupportedError)


@pytest.mark.parametrize("shape", range(4), ids=["host_path", "read_only", "bind", "path"])
async def test_raw_host_mount_is_refused_or_not_mounted(api, rt, image, host_dir, shape):
    path, marker = host_dir
    volumes = _shapes(str(path))[shape]
    resp = await api.create_box({"image": image, "volumes": volumes})
    if not resp.is_success:
        assert 400 <= resp.status_code < 500, describe(resp)
        return
    try:
        box = await rt.get(resp.json()["box_id"])
        assert box is not None
        # Control: the probe sees a file the box itself puts at that path...
        own = await sh(
            box, f"mkdir -p {GUEST}-own && echo mine > {GUEST}-own/f && cat {GUEST}-own/f"
        )
        assert own.stdout == "mine\n", own
        # ...and does not see the host's.
        probe = await sh(box, f"cat {GUEST}/marker 2>/dev/null; ls -A {GUEST} 2>/dev/null; true")
        assert marker not in probe.stdout, f"host directory mounted into the box: {probe}"
        assert probe.stdout == "", f"something is mounted at {GUEST}: {probe}"
    finally:
        await remove_created(api, resp)
