"""Box records: the create request validated, the Box JSON the SDK reads, and persistence.

The SDK is strict about the Box JSON: `box_id` must match `[A-Za-z0-9_-]{1,128}` and stay
stable (start/stop/info compare it with the handle), timestamps must be RFC 3339 *strings*,
`cpus`/`memory_mib` integers, `labels` an object and never null. Records are kept as one JSON
file per box under `{state}/boxes/{id}/box.json` (mode 0600: box env may hold secrets), so a
restarted runner still knows its boxes and their rootfs copies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from standin import atomicfile
from standin.errors import ApiError
from standin.runner.netpolicy import normalize_rules

BOX_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_CPUS = 255  # the SDK parses cpus as u8
MAX_MEMORY_MIB = 2**32 - 1  # u32
DEFAULT_CPUS = 1
DEFAULT_MEMORY_MIB = 512
DEFAULT_AUTO_STOP = 900


def now_rfc3339() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def new_box_id() -> str:
    return "rb" + secrets.token_hex(6)


@dataclass
class BoxRecord:
    id: str
    image: str
    rootfs_source: str  # host directory the box's rootfs was copied from
    name: str | None = None
    cpus: int = DEFAULT_CPUS
    memory_mib: int = DEFAULT_MEMORY_MIB
    disk_size_gb: int | None = None
    working_dir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    network: str = "enabled"
    allow_net: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    tty: bool = False
    detach: bool = False
    auto_stop: int = DEFAULT_AUTO_STOP
    auto_delete: int = 0
    auto_resume: bool = False
    # managed volume mounts: [{"volume_id", "guest_path"}] (the API resolved names to ids)
    volumes: list[dict[str, str]] = field(default_factory=list)
    # name -> placeholder, one guest variable each; secret VALUES are never recorded here.
    secrets: dict[str, str] = field(default_factory=dict)
    status: str = "configured"
    created_at: str = field(default_factory=now_rfc3339)
    updated_at: str = field(default_factory=now_rfc3339)
    last_activity_at: str | None = None

    def touch(self, status: str | None = None) -> None:
        if status is not None:
            self.status = status
        self.updated_at = now_rfc3339()

    def wire(self, pid: int | None = None) -> dict:
        """The SDK's Box JSON, every field it reads (env and other inputs are not echoed)."""
        network: dict = {"mode": self.network}
        if self.allow_net:
            network["allow_net"] = list(self.allow_net)
        return {
            "box_id": self.id,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_activity_at": self.last_activity_at or self.updated_at,
            "pid": pid,
            "image": self.image,
            "cpus": self.cpus,
            "memory_mib": self.memory_mib,
            "labels": {},
            "exit_code": None,
            "auto_stop": self.auto_stop,
            "auto_delete": self.auto_delete,
            "auto_resume": self.auto_resume,
            "network": network,
        }


# --------------------------------------------------------------------------- validation


def _bad(message: str) -> ApiError:
    return ApiError("invalid_argument", message)


def _int(body: dict, key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{key} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _bad(f"{key} must be in {lo}..{hi}, got {value}")
    return value


def _str_list(body: dict, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{key} must be a list of strings")
    return value


def str_map(value: object, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad(f"{key} must be an object of strings")
    return dict(value)


def _network(value: object) -> tuple[str, list[str]]:
    """Legacy `{"mode","allow_net"}` or `{"outbound":{...},"inbound":{...}}` (both SDK shapes)."""
    if value is None:
        return "enabled", []
    if not isinstance(value, dict):
        raise _bad("network must be an object")
    spec = value.get("outbound", value)
    if not isinstance(spec, dict):
        raise _bad("network.outbound must be an object")
    mode = spec.get("mode", "enabled")
    if mode not in ("enabled", "disabled"):
        raise _bad(f"network mode must be 'enabled' or 'disabled', got {mode!r}")
    allow = spec.get("allow_net") or []
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise _bad("network.allow_net must be a list of strings")
    allow = normalize_rules(allow)
    if mode == "disabled":
        allow = []  # upstream's mapper: no allow-list without a network
    return mode, allow


def parse_volumes(value: object) -> list[dict[str, str]]:
    """Managed volume mounts; a host path (the local runtime's bind mount) is refused."""
    if not value:
        return []
    if not isinstance(value, list):
        raise _bad("volumes must be a list")
    mounts = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("volume_id"), str):
            raise ApiError(
                "unsupported", "host bind mounts are not supported; mount a managed volume"
            )
        volume_id, guest = item["volume_id"], item.get("guest_path")
        if not BOX_ID_RE.match(volume_id):
            raise _bad(f"bad volume id {volume_id!r}")
        parts = guest.split("/") if isinstance(guest, str) else []
        if not isinstance(guest, str) or not guest.startswith("/") or ".." in parts:
            raise _bad(f"guest_path must be an absolute path without '..', got {guest!r}")
        if guest.rstrip("/") == "":
            raise _bad("a volume cannot be mounted over the box's root")
        mounts.append({"volume_id": volume_id, "guest_path": guest})
    return mounts


def secret_env_name(name: str) -> str:
    """The guest variable a secret's placeholder is exported under (Secret::env_pair)."""
    return "BOXLITE_SECRET_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())


def parse_secrets(value: object) -> list[tuple[str, str, str]]:
    """`secrets[]` as (name, placeholder, value); the value must go no further than memory."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("secrets must be a list")
    found = []
    for item in value:
        if not isinstance(item, dict):
            raise _bad("each secret must be an object")
        name, secret = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name or not isinstance(secret, str) or not secret:
            raise _bad("each secret needs a non-empty name and value")
        placeholder = item.get("placeholder") or f"<BOXLITE_SECRET:{name}>"
        if not isinstance(placeholder, str):
            raise _bad("a secret's placeholder must be a string")
        found.append((name, placeholder, secret))
    return found


def record_from_request(body: object, box_id: str) -> BoxRecord:
    """Validate a CreateBoxRequest (the SDK's create body); the image is resolved by the caller."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    for unsupported in ("advanced", "ports"):
        if body.get(unsupported):
            raise ApiError("unsupported", f"{unsupported} are not supported by this runner")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 256):
        raise _bad("name must be a non-empty string of at most 256 characters")
    if isinstance(name, str) and "/" in name:
        raise _bad("name must not contain '/'")
    image, rootfs_path = body.get("image"), body.get("rootfs_path")
    if rootfs_path is not None and not isinstance(rootfs_path, str):
        raise _bad("rootfs_path must be a string")
    if image is not None and not isinstance(image, str):
        raise _bad("image must be a string")
    if not image and not rootfs_path:
        raise _bad("one of image or rootfs_path is required")
    working_dir = body.get("working_dir")
    if working_dir is not None and (
        not isinstance(working_dir, str) or not working_dir.startswith("/")
    ):
        raise _bad("working_dir must be an absolute path")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or not user):
        raise _bad("user must be a non-empty string like 'uid:gid'")
    network, allow_net = _network(body.get("network"))
    for flag in ("tty", "detach", "auto_resume"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _bad(f"{flag} must be a boolean")
    return BoxRecord(
        id=box_id,
        name=name,
        image=image or "",
        rootfs_source=rootfs_path or "",
        cpus=_int(body, "cpus", DEFAULT_CPUS, 1, MAX_CPUS),
        memory_mib=_int(body, "memory_mib", DEFAULT_MEMORY_MIB, 1, MAX_MEMORY_MIB),
        disk_size_gb=_int(body, "disk_size_gb", None, 1, 2**32 - 1),
        working_dir=working_dir,
        env=str_map(body.get("env"), "env"),
        user=user,
        network=network,
        allow_net=allow_net,
        volumes=parse_volumes(body.get("volumes")),
        entrypoint=_str_list(body, "entrypoint"),
        cmd=_str_list(body, "cmd"),
        tty=bool(body.get("tty", False)),
        detach=bool(body.get("detach", False)),
        auto_stop=_int(body, "auto_stop", DEFAULT_AUTO_STOP, 0, 2**32 - 1),
        auto_delete=_int(body, "auto_delete", 0, 0, 2**32 - 1),
        auto_resume=bool(body.get("auto_resume", False)),
    )


# --------------------------------------------------------------------------- persistence


class BoxStore:
    """One directory per box: `box.json` (the record) and `rootfs/` (the box's disk)."""

    def __init__(self, state_dir: Path):
        self.root = Path(state_dir) / "boxes"
        self.root.mkdir(parents=True, exist_ok=True)

    def box_dir(self, box_id: str) -> Path:
        if not BOX_ID_RE.match(box_id):
            raise ValueError(f"bad box id {box_id!r}")
        return self.root / box_id

    def rootfs(self, box_id: str) -> Path:
        return self.box_dir(box_id) / "rootfs"

    def volume_dir(self, volume_id: str) -> Path:
        """A managed volume's bytes: outside every box dir, so they outlive the boxes."""
        if not BOX_ID_RE.match(volume_id):
            raise ValueError(f"bad volume id {volume_id!r}")
        return self.root.parent / "volumes" / volume_id

    def save(self, record: BoxRecord) -> None:
        path = self.box_dir(record.id) / "box.json"
        atomicfile.write_private(path, json.dumps(dataclasses.asdict(record), indent=1))

    def load_all(self) -> list[BoxRecord]:
        records = []
        known = {f.name for f in dataclasses.fields(BoxRecord)}
        for path in sorted(self.root.glob("*/box.json")):
            try:
                data = json.loads(path.read_text())
                records.append(BoxRecord(**{k: v for k, v in data.items() if k in known}))
            except (OSError, ValueError, TypeError):
                continue  # a half-written or foreign file is not a box
        return records
