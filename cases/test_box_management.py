"""Box management over REST: a named box, the list round trip, env propagation.

Ported from upstream's e2e case `test_box_management.py`. Names matter over
REST more than in-process: the API addresses boxes by id *or* name (the SDK's `get`:
`GET P/boxes/{id_or_name}`), and the harness names every box `e2e-<run>-<worker>-<hex>` so a
sweeper can attribute it. The list round trip compares what `list_info()` reports with what
`get_info()` reports for the same box, field by field, so a list that drops or garbles fields
(the `cpus: 999` boxes that broke `ls --format json` in PR #817) is caught here.
"""

from __future__ import annotations

import boxlite
import pytest

from lib.harness.case_helpers import assert_typed, sh


async def test_named_box_keeps_its_name_and_resolves_by_name(rt, box_factory, e2e):
    name = e2e.ledger.new_name()
    box = await box_factory(name=name)
    assert box.name == name
    info = await rt.get_info(name)
    assert info is not None and info.id == box.id and info.name == name
    by_name = await rt.get(name)
    assert by_name is not None and by_name.id == box.id
    out = await sh(by_name, "echo via-name")
    assert out.stdout == "via-name\n", out


async def test_duplicate_name_is_refused(rt, box_factory, e2e, image):
    name = e2e.ledger.new_name()
    first = await box_factory(name=name)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.create(boxlite.BoxOptions(image=image), name=name)
    assert_typed(caught.value, boxlite.AlreadyExistsError, boxlite.InvalidStateError)
    assert (await rt.get_info(name)).id == first.id, "the name now points at another box"


async def test_list_round_trip_matches_get_info(rt, box_factory):
    box = await box_factory(cpus=1, memory_mib=256)
    listed = {i.id: i for i in await rt.list_info()}
    assert box.id in listed
    got, one = listed[box.id], await rt.get_info(box.id)
    for attr in ("id", "name", "image", "cpus", "memory_mib"):
        assert getattr(got, attr) == getattr(one, attr), attr
    assert (got.cpus, got.memory_mib) == (1, 256)
    assert got.state.status == one.state.status == "running"


async def test_box_env_is_visible_in_execs(box_factory):
    box = await box_factory(env=[("E2E_BOX_ENV", "from the box"), ("E2E_SECOND", "2")])
    out = await sh(box, 'echo "$E2E_BOX_ENV|$E2E_SECOND"')
    assert (out.exit_code, out.stdout) == (0, "from the box|2\n"), out


async def test_exec_env_overrides_box_env(box_factory):
    box = await box_factory(env=[("E2E_BOX_ENV", "box")])
    out = await sh(box, 'echo "$E2E_BOX_ENV"', env=[("E2E_BOX_ENV", "exec")])
    assert out.stdout == "exec\n", out


async def test_working_dir_is_the_default_cwd(box_factory):
    # /tmp exists in every image, so this tests the default cwd, not directory creation.
    box = await box_factory(working_dir="/tmp")
    out = await sh(box, "pwd")
    assert (out.exit_code, out.stdout) == (0, "/tmp\n"), out
    explicit = await sh(box, "pwd", cwd="/")
    assert explicit.stdout == "/\n", explicit  # an exec's own cwd still wins
