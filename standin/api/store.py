"""The API's persistent records: orgs and their per-box quota, snapshots, boxes.

The API owns the box records (the runner only knows its own boxes, each named by its API id),
so an API restart must not lose a box the runner still runs. Everything lives in one small
JSON file in `--state-dir`, rewritten atomically on every mutation (temp file, fsync,
rename): a crash leaves the old state or the new one, never half of either.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from standin import atomicfile

SCHEMA = 1
STATE_FILE = "api-state.json"


def org_tag(org_id: str) -> str:
    """4 hex digits derived from the org id (1 in 65536 orgs share one; fine for a stand-in)."""
    return hashlib.sha256(org_id.encode()).hexdigest()[:4]


def now_rfc3339() -> str:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    return now.replace("+00:00", "Z")


@dataclass
class Quota:
    """Per-box ceilings, in upstream's units. Zero means "nothing allowed" here (see below)."""

    max_cpu_per_box: int = 0  # vCPUs
    max_memory_per_box: int = 0  # GiB (upstream's unit; requests carry MiB)
    max_disk_per_box: int = 0  # GB
    customized: bool = False


@dataclass
class Org:
    # A fresh upstream org has zero per-box limits until an admin raises them (upstream
    # fixture_setup sets 4/8/20 by SQL); the stand-in starts the same way, so a harness that
    # forgets fixture setup fails loudly at the first create instead of passing by accident.
    id: str
    quota: Quota = field(default_factory=Quota)


@dataclass
class BoxRecord:
    id: str
    org_id: str
    name: str | None
    image: str  # as the SDK asked for it
    runner_image: str  # the snapshot's imageName, what the runner pulls
    cpus: int
    memory_mib: int
    disk_size_gb: int | None
    created_at: str
    updated_at: str
    status: str = "configured"
    runner_id: str | None = None  # None while the runner create is in flight
    volumes: list[str] = field(default_factory=list)  # managed volume ids it mounts
    catalog_name: str | None = None  # the catalog entry it booted from (not curated)
    # Lifecycle policy (standin.api.lifecycle); defaults are upstream's API defaults.
    auto_stop: int = 900
    auto_delete: int = 0
    auto_resume: bool = True
    last_activity: float | None = None  # epoch seconds of the last proxied request


@dataclass
class VolumeRecord:
    """A managed volume (upstream's RestVolumeResponse); its bytes live on the runner."""

    id: str
    org_id: str
    name: str
    created_at: str
    updated_at: str
    state: str = "ready"


@dataclass
class ImageVersion:
    digest: str
    size_bytes: int
    source_ref: str
    recorded_at: str


@dataclass
class CatalogImage:
    """One repository in an org's image catalog, written when a box booted from it."""

    org_id: str
    name: str  # repository without the tag
    tags: list[str] = field(default_factory=list)
    versions: list[ImageVersion] = field(default_factory=list)


@dataclass
class Snapshot:
    id: str
    org_id: str
    name: str
    image_name: str
    state: str
    cpu: int
    mem: int
    disk: int
    created_at: str
    updated_at: str
    error_reason: str | None = None


class Store:
    """In-memory records plus `save()`; single event loop, so no locking is needed."""

    def __init__(self, path: Path, admin_org_id: str, orgs: dict[str, Org]):
        self.path = path
        self.admin_org_id = admin_org_id
        self.orgs = orgs
        self.boxes: dict[str, BoxRecord] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.volumes: dict[str, VolumeRecord] = {}
        self.catalog: dict[tuple[str, str], CatalogImage] = {}

    # persistence ------------------------------------------------------------------------
    @classmethod
    def open(cls, state_dir: Path, org_id: str | None = None) -> Store:
        """Load `state_dir`'s records, or start fresh; `org_id` overrides the admin org."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / STATE_FILE
        if path.exists():
            doc = json.loads(path.read_text())
            if doc.get("schema") != SCHEMA:
                raise ValueError(f"{path}: unknown schema {doc.get('schema')!r}")
            orgs = {o["id"]: Org(o["id"], Quota(**o.get("quota", {}))) for o in doc.get("orgs", [])}
            store = cls(path, doc["admin_org_id"], orgs)
            store.boxes = {b["id"]: BoxRecord(**b) for b in doc.get("boxes", [])}
            store.snapshots = {s["id"]: Snapshot(**s) for s in doc.get("snapshots", [])}
            store.volumes = {v["id"]: VolumeRecord(**v) for v in doc.get("volumes", [])}
            for entry in doc.get("catalog", []):
                image = CatalogImage(
                    entry["org_id"],
                    entry["name"],
                    list(entry.get("tags", [])),
                    [ImageVersion(**v) for v in entry.get("versions", [])],
                )
                store.catalog[(image.org_id, image.name)] = image
        else:
            # Upstream org ids are UUIDs; generated once, then persisted.
            first = org_id or str(uuid.uuid4())
            store = cls(path, first, {first: Org(first)})
        if org_id is not None and org_id != store.admin_org_id:
            store.admin_org_id = org_id
        store.orgs.setdefault(store.admin_org_id, Org(store.admin_org_id))
        store.save()
        return store

    def save(self) -> None:
        doc = {
            "schema": SCHEMA,
            "admin_org_id": self.admin_org_id,
            "orgs": [asdict(o) for o in self.orgs.values()],
            "boxes": [asdict(b) for b in self.boxes.values()],
            "snapshots": [asdict(s) for s in self.snapshots.values()],
            "volumes": [asdict(v) for v in self.volumes.values()],
            "catalog": [asdict(c) for c in self.catalog.values()],
        }
        atomicfile.write_private(self.path, json.dumps(doc, indent=1, sort_keys=True))

    # orgs ---------------------------------------------------------------------------------
    @property
    def admin_org(self) -> Org:
        return self.orgs[self.admin_org_id]

    # boxes --------------------------------------------------------------------------------
    def new_box_id(self, org_id: str | None = None) -> str:
        """`bx` + 4 hex org tag + 8 random hex: SDK-safe, greppable in both logs.

        The org tag lets reconciliation tell this org's boxes from other APIs' boxes on a
        shared runner (the runner knows a box only by its name, the API id).
        """
        tag = org_tag(org_id or self.admin_org_id)
        while True:
            box_id = f"bx{tag}{secrets.token_hex(4)}"
            if box_id not in self.boxes:
                return box_id

    def boxes_in(self, org_id: str) -> list[BoxRecord]:
        return sorted(
            (b for b in self.boxes.values() if b.org_id == org_id), key=lambda b: b.created_at
        )

    def find_box(self, org_id: str, id_or_name: str) -> BoxRecord | None:
        """By API id first, then by name (the SDK's `rt.get(id_or_name)`)."""
        box = self.boxes.get(id_or_name)
        if box is not None and box.org_id == org_id:
            return box
        for box in self.boxes.values():
            if box.org_id == org_id and box.name == id_or_name:
                return box
        return None

    # snapshots ----------------------------------------------------------------------------
    def new_snapshot_id(self) -> str:
        return str(uuid.uuid4())

    def find_snapshot(self, org_id: str, id_or_name: str) -> Snapshot | None:
        snap = self.snapshots.get(id_or_name)
        if snap is not None and snap.org_id == org_id:
            return snap
        return next(
            (s for s in self.snapshots.values() if s.org_id == org_id and s.name == id_or_name),
            None,
        )

    def snapshot_for_image(self, org_id: str, image: str) -> Snapshot | None:
        """The snapshot a box image refers to: by snapshot name, then by its imageName."""
        snap = self.find_snapshot(org_id, image)
        if snap is not None:
            return snap
        return next(
            (s for s in self.snapshots.values() if s.org_id == org_id and s.image_name == image),
            None,
        )

    # volumes ------------------------------------------------------------------------------
    def find_volume(self, org_id: str, id_or_name: str) -> VolumeRecord | None:
        vol = self.volumes.get(id_or_name)
        if vol is not None and vol.org_id == org_id:
            return vol
        return next(
            (v for v in self.volumes.values() if v.org_id == org_id and v.name == id_or_name),
            None,
        )
