"""The tracked REST runtime, driven with the real boxlite SDK against a fake stack."""

from __future__ import annotations

import boxlite
import pytest

from lib.harness.api import ApiClient
from lib.harness.runtime import (
    NATIVE_BOXLITE,
    BoxLedger,
    LocalRuntimeForbidden,
    TrackedRuntime,
    forbid_local_runtime,
    remove_boxes,
    rest_runtime,
)
from tests.fakestack import FakeStack, FakeStackServer


@pytest.fixture
def stack(tmp_path):
    fake = FakeStack(api_log=tmp_path / "api.log", runner_log=tmp_path / "runner.log")
    with FakeStackServer(fake) as running:
        yield running


@pytest.fixture
def ledger():
    return BoxLedger("run1", "gw3")


@pytest.fixture
def rt(stack, ledger):
    return rest_runtime(stack.url, stack.key, stack.prefix, ledger)


def test_names_are_attributable_and_unique(ledger):
    names = {ledger.new_name() for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith("e2e-run1-gw3-") for n in names)
    assert BoxLedger("run1").new_name().startswith("e2e-run1-")


async def test_create_records_names_and_bounds_lifetime(stack, rt, ledger):
    ledger.begin("t::one")
    box = await rt.create(boxlite.BoxOptions(image="img:1"))
    assert isinstance(box, boxlite.Box)
    assert isinstance(rt, boxlite.Boxlite)
    server_box = stack.boxes[box.id]
    assert server_box["name"].startswith("e2e-run1-gw3-")
    assert (server_box["auto_stop"], server_box["auto_delete"]) == (300, 600)
    explicit = await rt.create(boxlite.BoxOptions(image="img:1", auto_stop=30), name="mine")
    assert stack.boxes[explicit.id]["auto_stop"] == 30
    assert stack.boxes[explicit.id]["auto_delete"] == 0  # the caller's choice is kept
    records = ledger.end()
    assert [(r.box_id, r.route, r.test) for r in records] == [
        (box.id, "create", "t::one"),
        (explicit.id, "create", "t::one"),
    ]
    assert records[1].name == "mine"


async def test_create_without_options_is_a_clear_error(rt):
    with pytest.raises(TypeError, match="BoxOptions"):
        await rt.create()


async def test_clone_get_or_create_and_remove_are_tracked(stack, rt, ledger):
    box = await rt.create(boxlite.BoxOptions(image="i"))
    clone = await box.clone_box()
    got, created = await rt.get_or_create(boxlite.BoxOptions(image="i"), name="goc")
    again, created_again = await rt.get_or_create(boxlite.BoxOptions(image="i"), name="goc")
    assert created and not created_again and again.id == got.id
    routes = {r.box_id: r.route for r in ledger.records}
    assert routes == {box.id: "create", clone.id: "clone", got.id: "get_or_create"}
    fetched = await rt.get(clone.id)
    assert fetched.id == clone.id and await rt.get("nope") is None
    await rt.remove(clone.id)
    await rt.remove("goc")  # by name
    assert [r.box_id for r in ledger.outstanding()] == [box.id]


async def test_remove_boxes_reports_leftovers_gone_and_failures(stack, rt, ledger):
    a = await rt.create(boxlite.BoxOptions(image="i"))
    b = await rt.create(boxlite.BoxOptions(image="i"), name="sticky")
    c = await rt.create(boxlite.BoxOptions(image="i"))
    del stack.boxes[c.id]  # removed behind the harness's back
    stack.fail_delete.add("sticky")
    result = await remove_boxes(rt, ledger.outstanding())
    assert [r.box_id for r in result.removed] == [a.id]
    assert [r.box_id for r in result.gone] == [c.id]
    assert [f.record.box_id for f in result.failed] == [b.id]
    assert "delete exploded" in result.failed[0].error
    assert [r.box_id for r in ledger.outstanding()] == [b.id]
    assert a.id not in stack.boxes


async def test_raw_rest_creates_are_recorded_named_and_bounded(stack, ledger):
    ledger.begin("t::raw")
    async with ApiClient(stack.url, stack.key, stack.prefix, recorder=ledger) as api:
        resp = await api.create_box({"image": "i"})
        assert resp.status_code == 201
        box_id = resp.json()["box_id"]
        assert stack.boxes[box_id]["name"].startswith("e2e-run1-gw3-")
        assert (stack.boxes[box_id]["auto_stop"], stack.boxes[box_id]["auto_delete"]) == (300, 600)
        odd = await api.create_box({"image": "i", "auto_stop": 900, "name": "odd"})
        assert stack.boxes[odd.json()["box_id"]]["auto_delete"] == 1200  # stays > auto_stop
        raw = await api.create_box({"image": "i"}, raw=True)
        assert stack.boxes[raw.json()["box_id"]]["name"] is None
        clone = await api.post(f"/boxes/{box_id}/clone", json={})
        bad = await api.get("/boxes/does-not-exist")
        assert bad.status_code == 404  # statuses are data, not exceptions
        assert (await api.delete(f"/boxes/{box_id}")).status_code == 204
    records = ledger.end()
    assert [r.route for r in records] == ["raw-create", "raw-create", "raw-create", "raw-clone"]
    assert clone.json()["box_id"] == records[3].box_id
    assert {r.box_id for r in ledger.outstanding()} == {r.box_id for r in records[1:]}
    assert stack.key not in repr(api)


def test_local_runtime_entry_points_fail_loudly(monkeypatch, ledger, stack):
    import sys

    this_module = sys.modules[__name__]
    monkeypatch.setattr(this_module, "EARLY_IMPORTED", NATIVE_BOXLITE, raising=False)
    with pytest.MonkeyPatch.context() as mp:
        forbid_local_runtime(mp, ledger, [this_module])
        for attempt in (
            boxlite.Boxlite.default,
            lambda: boxlite.Boxlite(boxlite.Options()),
            lambda: boxlite.Boxlite.init_default(boxlite.Options()),
            NATIVE_BOXLITE.default,  # a name bound before the guard went up
            lambda: this_module.EARLY_IMPORTED(boxlite.Options()),
            lambda: boxlite.SimpleBox(image="x"),  # runtime=None means Boxlite.default()
        ):
            with pytest.raises(LocalRuntimeForbidden, match="never goes through the REST"):
                attempt()
        opts = boxlite.BoxliteRestOptions(url=stack.url, credential=boxlite.ApiKeyCredential("k"))
        second = boxlite.Boxlite.rest(opts)
        assert isinstance(second, TrackedRuntime) and second.ledger is ledger
        assert isinstance(second, boxlite.Boxlite)
        assert isinstance(NATIVE_BOXLITE.rest(opts), TrackedRuntime)
    assert boxlite.Boxlite is NATIVE_BOXLITE  # undone
    assert not isinstance(NATIVE_BOXLITE.rest(opts), TrackedRuntime)
