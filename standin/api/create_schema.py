"""The shape checks upstream's `CreateBoxDto` applies to a box create, field by field.

Upstream validates the body with class-validator under a global ValidationPipe that
whitelists and forbids unknown properties (`apps/api/src/boxlite-rest/dto/create-box.dto.ts`),
so a key the DTO does not declare is a 400 "property X should not exist", at the top level
and inside every nested object (`disk_io`, `network`, each `volumes[]` and `secrets[]` entry).
Sizes and their quota are `validation.py`'s business; this module checks everything else:

- `disk_io` (DiskIoLimitsDto): `read_bps`/`write_bps`/`read_iops`/`write_iops`, each an
  integer >= 1. Zero is never "block all I/O": io.max cannot express it and the runtime
  refuses it, so upstream refuses it at the boundary (apps/e2e/cases/test_disk_io_limits.py);
- `network`: the legacy `{mode, allow_net}` or `{outbound, inbound}`, never both; `mode` is
  `enabled`/`disabled`; a non-empty `inbound.allow_net` is refused (nothing enforces it);
- `volumes[]` (VolumeSpecDto): `managed_volume` a non-empty volume id or name that does not
  look like a host path, `guest_path` a string, `read_only` absent or false;
- `secrets[]` (SecretSpecDto): non-empty `name` and `value`, optional `hosts` (strings) and
  `placeholder` (string);
- `tty` only false; `ports`, `rootfs_path` and `advanced` refused with the reason.

Fault `validation-lenient` (standin.faults) models the ValidationPipe without `whitelist` /
`forbidNonWhitelisted` that boxlite-ai/boxlite#662 traced its coercions to: unknown keys and
zero `disk_io` ceilings then pass and the box is created (201).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from standin.errors import ApiError
from standin.faults import ActiveFault

TOP_LEVEL = frozenset(
    {
        "name",
        "image",
        "cpus",
        "memory_mib",
        "disk_size_gb",
        "disk_io",
        "working_dir",
        "env",
        "entrypoint",
        "cmd",
        "user",
        "detach",
        "auto_stop",
        "auto_delete",
        "auto_resume",
        "network",
        "volumes",
        "secrets",
        # declared by the DTO only to refuse them with a reason
        "ports",
        "tty",
        "rootfs_path",
        "advanced",
    }
)
DISK_IO = ("read_bps", "write_bps", "read_iops", "write_iops")
# The CLI's rule for "this -v source is a path": ., /, ~, a UNC or a drive letter.
HOST_PATH = re.compile(r"^(\.|/|~|\\\\|[a-zA-Z]:[\\/])")


def _bad(message: str) -> ApiError:
    return ApiError("invalid_argument", message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _only(obj: dict, allowed, where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise _bad(f"{where}property {unknown[0]} should not exist")


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    return value


def check_shape(body: dict, faults: dict[str, ActiveFault]) -> None:
    """Raise ApiError(400 invalid_argument / unsupported) for what upstream's DTO refuses."""
    lenient = faults.get("validation-lenient")
    strict = lenient is None or not lenient.fires()
    if strict:
        _only(body, TOP_LEVEL, "")
    _check_disk_io(body.get("disk_io"), strict)
    _check_network(body.get("network"), strict)
    _check_volumes(body.get("volumes"), strict)
    _check_secrets(body.get("secrets"), strict)
    for key in ("working_dir", "user"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _bad(f"{key} must be a string")
    env = body.get("env")
    if env is not None and (
        not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values())
    ):
        raise _bad("env must be an object whose values are strings")
    for key in ("entrypoint", "cmd"):
        if body.get(key) is not None and not isinstance(body[key], list):
            raise _bad(f"{key} must be an array")
    for key in ("detach", "auto_resume"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise _bad(f"{key} must be a boolean value")
    for key in ("auto_stop", "auto_delete"):
        value = body.get(key)
        if value is not None and (not _is_number(value) or value < 0):
            raise _bad(f"{key} must not be less than 0")
    if body.get("tty") not in (None, False):
        raise _bad("tty is not supported for cloud boxes; request a tty on the execution instead")
    if body.get("ports") is not None:
        raise _bad(
            "host port publication is local-only; use the box network tunnel endpoint to"
            " reach a guest service"
        )
    if body.get("advanced") is not None:
        raise _bad("advanced options are not supported for cloud boxes")


def _check_disk_io(value: object, strict: bool) -> None:
    if value is None:
        return
    limits = _object(value, "disk_io")
    if strict:
        _only(limits, DISK_IO, "disk_io.")
    for key in DISK_IO:
        item = limits.get(key)
        if item is None:
            continue
        if not _is_int(item):
            raise _bad(f"disk_io.{key} must be an integer number")
        if item < 1 and strict:
            raise _bad(f"disk_io.{key} must not be less than 1")


def _check_network(value: object, strict: bool) -> None:
    if value is None or value == []:
        return
    network = _object(value, "network")
    legacy = "mode" in network or "allow_net" in network
    nested = "outbound" in network or "inbound" in network
    if legacy and nested:
        raise _bad(
            "network must not mix legacy top-level fields with nested outbound/inbound fields"
        )
    if legacy:
        _check_direction(network, "network.", strict)
        return
    if strict:
        _only(network, ("outbound", "inbound"), "network.")
    for side in ("outbound", "inbound"):
        if network.get(side) is not None:
            spec = _object(network[side], f"network.{side}")
            _check_direction(spec, f"network.{side}.", strict)
            if side == "inbound" and spec.get("allow_net"):
                raise _bad(
                    "inbound.allow_net is not supported yet; remove it (inbound access is"
                    " controlled by mode only)"
                )


def _check_direction(spec: dict, where: str, strict: bool) -> None:
    if strict:
        _only(spec, ("mode", "allow_net"), where)
    mode = spec.get("mode", "enabled")
    if mode not in ("enabled", "disabled"):
        raise _bad(f"{where}mode must be one of the following values: enabled, disabled")
    allow = spec.get("allow_net")
    if allow is not None and (
        not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow)
    ):
        raise _bad(f"{where}allow_net must be an array of strings")


def _each_object(value: object, name: str) -> Iterator[tuple[str, dict]]:
    """`value` as an array of objects: (`name.index`, the object) per item; None has none."""
    if value is None:
        return
    if not isinstance(value, list):
        raise _bad(f"{name} must be an array")
    for index, item in enumerate(value):
        where = f"{name}.{index}"
        yield where, _object(item, where)


def _check_volumes(value: object, strict: bool) -> None:
    for where, spec in _each_object(value, "volumes"):
        if strict:
            _only(spec, ("managed_volume", "guest_path", "read_only"), f"{where}.")
        source = spec.get("managed_volume")
        if not isinstance(source, str) or not source:
            raise _bad(f"{where}.managed_volume should not be empty")
        if HOST_PATH.match(source):
            raise _bad(
                "host bind mounts are not supported by this API; managed_volume takes a"
                " volume id or name, not a path"
            )
        if not isinstance(spec.get("guest_path"), str):
            raise _bad(f"{where}.guest_path must be a string")
        if spec.get("read_only") not in (None, False):
            raise _bad(f"{where}.read_only must be one of the following values: false")


def _check_secrets(value: object, strict: bool) -> None:
    for where, spec in _each_object(value, "secrets"):
        if strict:
            _only(spec, ("name", "value", "hosts", "placeholder"), f"{where}.")
        for key in ("name", "value"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                # The message names the field, never its value: it may be the secret.
                raise _bad(f"{where}.{key} should not be empty")
        hosts = spec.get("hosts")
        if hosts is not None and (
            not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts)
        ):
            raise _bad(f"{where}.hosts must be an array of strings")
        if spec.get("placeholder") is not None and not isinstance(spec["placeholder"], str):
            raise _bad(f"{where}.placeholder must be a string")
