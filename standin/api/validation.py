"""Validation of a box create against the org's per-box quota, and the two API faults.

Which status for which failure (the SDK picks the exception class from the code):

- not an integer (bool, float, string), or below the minimum (cpus 1, memory_mib 128,
  disk_size_gb 1): 400 `invalid_argument` -> InvalidArgumentError;
- above the org's per-box maximum (max_cpu_per_box, max_memory_per_box in GiB,
  max_disk_per_box in GB): 429 `resource_exhausted` -> ResourceExhaustedError.

"Below the minimum" is a malformed request whatever the org; "above the maximum" is a request
this org is not entitled to, which is what resource_exhausted means. Upstream's eventual fix
answers 400 for both; either is a typed 4xx, which is all the regression cases require.

Faults (standin.faults), each modelling boxlite-ai/boxlite#662 and upstream's e2e cases
(test_quota_enforcement, test_error_code_mapping):

- `validation-coerce`: a zero cpus / memory_mib / disk_size_gb silently becomes the default
  and the create succeeds. Upstream answers cpus=0 with 201 and the default size (its
  ValidationPipe has no whitelist); the stand-in models that as a `value || default` fill,
  which treats a falsy 0 as "not given".
- `quota-clamp`: out-of-range values are clamped into [minimum, per-box maximum] and the
  create succeeds (201), because `createFromSnapshot` ignored the org's max_*_per_box columns
  and the runner clamped to what it could give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from standin.api.store import Quota
from standin.errors import ApiError
from standin.faults import ActiveFault

DEFAULT_CPUS = 1
DEFAULT_MEMORY_MIB = 512
MIN_CPUS = 1
MIN_MEMORY_MIB = 128
MIN_DISK_GB = 1

# (field, minimum, default when absent, quota attribute, MiB per quota unit)
SIZES = (
    ("cpus", MIN_CPUS, DEFAULT_CPUS, "max_cpu_per_box", 1),
    ("memory_mib", MIN_MEMORY_MIB, DEFAULT_MEMORY_MIB, "max_memory_per_box", 1024),
    ("disk_size_gb", MIN_DISK_GB, None, "max_disk_per_box", 1),
)


@dataclass
class Sizes:
    cpus: int
    memory_mib: int
    disk_size_gb: int | None
    # What a fault changed, for the event log: (fault, field, asked, used).
    fault_notes: list[tuple[str, str, object, int]] = field(default_factory=list)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sizes(body: dict, quota: Quota, faults: dict[str, ActiveFault]) -> Sizes:
    """Validate and resolve cpus/memory_mib/disk_size_gb; raises ApiError (400/429)."""
    coerce = faults.get("validation-coerce")
    clamp = faults.get("quota-clamp")
    resolved: dict[str, int | None] = {}
    notes: list[tuple[str, str, object, int]] = []
    for name, minimum, default, quota_attr, unit in SIZES:
        value = body.get(name)
        if value is None:
            resolved[name] = default
            if default is None:
                continue
            value = default
        if not _is_int(value):
            raise ApiError("invalid_argument", f"{name} must be an integer, got {value!r}")
        if value == 0 and coerce is not None and coerce.fires():
            used = default if default is not None else minimum
            notes.append(("validation-coerce", name, value, used))
            value = used
        maximum = getattr(quota, quota_attr) * unit
        if clamp is not None and (value < minimum or value > maximum) and clamp.fires():
            used = max(minimum, min(value, maximum))
            notes.append(("quota-clamp", name, value, used))
            value = used
        if value < minimum:
            raise ApiError("invalid_argument", f"{name} must be >= {minimum}, got {value}")
        if value > maximum:
            raise ApiError(
                "resource_exhausted",
                f"{name} {value} exceeds the organization's per-box limit of {maximum}"
                f" ({quota_attr}={getattr(quota, quota_attr)})",
            )
        resolved[name] = value
    return Sizes(
        cpus=resolved["cpus"],
        memory_mib=resolved["memory_mib"],
        disk_size_gb=resolved["disk_size_gb"],
        fault_notes=notes,
    )


def check_create_body(body: object) -> dict:
    """Shape checks that do not depend on the org: object body, image, name."""
    if not isinstance(body, dict):
        raise ApiError("invalid_argument", "request body must be a JSON object")
    if body.get("rootfs_path") is not None:
        raise ApiError("unsupported", "rootfs_path is not supported by the API; use an image")
    image = body.get("image")
    if not isinstance(image, str) or not image:
        raise ApiError("invalid_argument", "image must be a non-empty string")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ApiError("invalid_argument", "name must be a non-empty string")
    return body
