"""Persistent records (atomic, restart-safe) and start-up reconciliation with the runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

from standin.api.reconcile import reconcile
from standin.api.store import STATE_FILE, BoxRecord, Store, now_rfc3339, org_tag


def record(store: Store, box_id: str, runner_id: str | None, name: str | None = None):
    now = now_rfc3339()
    rec = BoxRecord(
        box_id, store.admin_org_id, name, "img", "img", 1, 512, None, now, now, "running", runner_id
    )
    store.boxes[box_id] = rec
    return rec


def test_org_id_generated_once_and_persisted(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    assert first.admin_org.quota.max_cpu_per_box == 0  # a fresh org allows nothing
    assert Store.open(tmp_path).admin_org_id == first.admin_org_id
    pinned = Store.open(tmp_path, "org-123/team-a")
    assert pinned.admin_org_id == "org-123/team-a"
    assert Store.open(tmp_path).admin_org_id == "org-123/team-a"


def test_records_survive_reopen(tmp_path: Path) -> None:
    store = Store.open(tmp_path, "o")
    rec = record(store, store.new_box_id(), "rb1", name="nm")
    store.admin_org.quota.max_cpu_per_box = 4
    store.save()
    again = Store.open(tmp_path)
    assert again.boxes[rec.id] == rec
    assert again.find_box("o", "nm") == rec
    assert again.find_box("other-org", rec.id) is None
    assert again.admin_org.quota.max_cpu_per_box == 4


def test_save_is_atomic(tmp_path: Path, monkeypatch) -> None:
    store = Store.open(tmp_path, "o")
    record(store, "bx000000000001", "rb1")
    store.save()
    before = (tmp_path / STATE_FILE).read_text()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("standin.atomicfile.os.replace", boom)
    record(store, "bx000000000002", "rb2")
    try:
        store.save()
    except OSError:
        pass
    assert (tmp_path / STATE_FILE).read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp file left behind
    assert len(json.loads(before)["boxes"]) == 1


def test_box_ids_carry_the_org_tag(tmp_path: Path) -> None:
    store = Store.open(tmp_path, "org-a")
    ids = {store.new_box_id() for _ in range(50)}
    assert all(re.fullmatch(rf"bx{org_tag('org-a')}[0-9a-f]{{8}}", i) for i in ids)
    assert org_tag("org-a") != org_tag("org-b")


def test_reconcile_ok_relink_adopt_drop(tmp_path: Path) -> None:
    store = Store.open(tmp_path, "o")
    ids = {k: f"bx{org_tag('o')}0000000{k}" for k in "abcde"}
    record(store, ids["a"], "rb-a")  # agrees with the runner
    record(store, ids["b"], None)  # create interrupted before the record update
    record(store, ids["c"], "rb-gone")  # runner lost it
    record(store, ids["e"], "rb-e")  # created after start-up: not judged
    foreign = f"bx{org_tag('other-org')}00000000"
    runner = [
        {"box_id": "rb-a", "name": ids["a"], "status": "running"},
        {"box_id": "rb-b", "name": ids["b"], "status": "running"},
        # State file lost: adopted.
        {"box_id": "rb-d", "name": ids["d"], "status": "stopped", "image": "i", "cpus": 2},
        {"box_id": "rb-f", "name": foreign},  # another org's API shares the runner
        {"box_id": "rb-x", "name": "e2e-direct-1"},  # a box made straight on the runner
        {"box_id": "rb-y"},
    ]
    report = reconcile(store, runner, {ids["a"], ids["b"], ids["c"]})
    assert report == {
        "ok": [ids["a"]],
        "relinked": [ids["b"]],
        "adopted": [ids["d"]],
        "dropped": [ids["c"]],
    }
    assert store.boxes[ids["b"]].runner_id == "rb-b"
    adopted = store.boxes[ids["d"]]
    assert (adopted.runner_id, adopted.cpus, adopted.status) == ("rb-d", 2, "stopped")
    # Persisted, so a second restart starts from the repaired state.
    assert set(Store.open(tmp_path).boxes) == {ids["a"], ids["b"], ids["d"], ids["e"]}
