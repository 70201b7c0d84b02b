"""A box create refuses what upstream's `CreateBoxDto` does not declare, at every level.

Upstream validates creates with class-validator under a ValidationPipe that whitelists and
forbids unknown properties (apps/api/src/boxlite-rest/dto/create-box.dto.ts): an unknown key
is a 400 at the top level and inside each nested object (`network`, `network.outbound`,
`volumes[]`, `secrets[]`), a legacy `network.{mode,allow_net}` mixed with the nested shape is
refused, and fields the cloud cannot honour (`tty: true`, `ports`, `advanced`, a read-only or
host-path volume, an inbound allow-list) are refused with the reason instead of being
silently dropped. The lax pipe that let all of this through is the root cause upstream found
behind boxlite-ai/boxlite#662; the stand-in's `validation-lenient` fault reproduces it.
"""

from __future__ import annotations

import pytest

from lib.harness.case_helpers import describe, refused

UNKNOWN_KEYS = {
    "top level": {"bogus_field": 1},
    "network": {"network": {"mode": "enabled", "bogus": 1}},
    "network.outbound": {"network": {"outbound": {"mode": "enabled", "bogus": 1}}},
    "volumes[]": {"volumes": [{"managed_volume": "v", "guest_path": "/data", "bogus": 1}]},
    "secrets[]": {"secrets": [{"name": "n", "value": "v", "bogus": 1}]},
}

REFUSED_WITH_A_REASON = {
    "legacy and nested network mixed": (
        {"network": {"mode": "enabled", "outbound": {"mode": "enabled"}}},
        "mix",
    ),
    "inbound allow-list": (
        {"network": {"inbound": {"mode": "enabled", "allow_net": ["10.0.0.0/8"]}}},
        "inbound",
    ),
    "network mode not enabled/disabled": ({"network": {"mode": "open"}}, "mode"),
    "tty on the box": ({"tty": True}, "tty"),
    "host port publication": ({"ports": [{"host_port": 8080, "guest_port": 80}]}, "port"),
    "advanced options": ({"advanced": {"security": {}}}, "advanced"),
    "read-only managed volume": (
        {"volumes": [{"managed_volume": "v", "guest_path": "/data", "read_only": True}]},
        "read_only",
    ),
    "host path as a volume": (
        {"volumes": [{"managed_volume": "/etc", "guest_path": "/data"}]},
        "host",
    ),
    "secret without a value": ({"secrets": [{"name": "n"}]}, "value"),
    "env value not a string": ({"env": {"A": 1}}, "env"),
}


@pytest.mark.catches("validation-lenient")
@pytest.mark.parametrize("where", list(UNKNOWN_KEYS))
async def test_an_unknown_key_is_400(api, image, where):
    resp = await api.create_box({"image": image, **UNKNOWN_KEYS[where]})
    await refused(api, resp, statuses=[400], codes=["invalid_argument"])
    assert "bogus" in resp.text, f"the refusal does not name the key: {describe(resp)}"


@pytest.mark.parametrize("case", list(REFUSED_WITH_A_REASON))
async def test_what_the_cloud_cannot_honour_is_refused_with_the_reason(api, image, case):
    extra, word = REFUSED_WITH_A_REASON[case]
    resp = await api.create_box({"image": image, **extra})
    await refused(api, resp, statuses=[400])
    assert word in resp.text.lower(), f"the refusal does not say why ({word}): {describe(resp)}"


async def test_the_fields_the_sdk_sends_are_accepted(api, image):
    """Counter-pin: the whitelist must not refuse what released SDKs put on every create."""
    resp = await api.create_box(
        {
            "image": image,
            "network": {"mode": "enabled"},
            "detach": False,
            "env": {"A": "1"},
            "working_dir": "/",
            "tty": False,
        }
    )
    assert resp.status_code == 201, describe(resp)
    gone = await api.delete(f"/boxes/{resp.json()['box_id']}", params={"force": "true"})
    assert gone.status_code == 204, describe(gone)
