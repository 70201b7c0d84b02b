"""The production bugs the stand-in can inject, by name.

Each fault models a bug that reached (or could reach) BoxLite production on the REST path and
names the upstream issue it models. The harness proves each regression case two-sided: the
case fails with the fault on and passes with it off. Components report their active faults on
`GET .../_standin/faults`, so `known_bug` markers apply only where the bug is present.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FaultSpec:
    name: str
    side: str  # "runner" or "api"
    issue: str
    summary: str
    probabilistic: bool = False


SPECS: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec(
            "exec-stdout-drop",
            "runner",
            "boxlite-ai/boxlite#563",
            "the exit frame overtakes the last stdout chunks: trailing stdout is lost",
            probabilistic=True,
        ),
        FaultSpec(
            "attach-no-replay",
            "runner",
            # Not #627: that PR was the client's missing re-attach after a cut (the harness's
            # netfault `ws-cut-after-upgrade` exposes it). A re-attach that does not replay
            # the output produced before it is #1046 (still open): "output produced while no
            # Runner subscriber is connected" must be replayed, each byte once.
            "boxlite-ai/boxlite#1046",
            "a re-attach to an execution does not replay its output backlog",
        ),
        FaultSpec(
            "exec-on-stopped-500",
            "runner",
            "boxlite-ai/boxlite#678",
            "exec on a stopped box answers 500 internal instead of a typed 409 stopped",
        ),
        FaultSpec(
            "spawn-failed-500",
            "runner",
            # Found by PR #678's suite; tracked on its own, still open, as #1472. Its own id
            # also keeps a known_bug marker for it from applying under exec-on-stopped-500.
            "boxlite-ai/boxlite#1472",
            "exec of a missing binary answers 500 spawn_failed instead of a typed error",
        ),
        FaultSpec(
            "error-names-runner-id",
            "runner",
            # Not an upstream bug: the stand-in's own, found by the Node SDK's first run
            # against it (this project's issue 15). Kept as a fault so the case that pins
            # "errors name the box as the client knows it" is proven two-sided.
            "boxlite-e2e/issues#15",
            "errors about a box name the runner's internal id (rb...), not the API's id",
        ),
        FaultSpec(
            "allow-net-alias-exempt",
            "runner",
            "boxlite-ai/boxlite#1106",
            "the host alias 192.168.127.254 bypasses a restrictive allow_net: a sealed box "
            "still reaches every service on the host's loopback",
        ),
        FaultSpec(
            "default-caps-all",
            "runner",
            # PR #597 proposed "default all open" (CapEff 0x1ffffffffff, SYS_ADMIN included)
            # and was closed; PR #646 keeps the default container at Docker's 14 caps.
            "boxlite-ai/boxlite#597",
            "a default (not privileged) box's root holds every capability, CAP_SYS_ADMIN "
            "included: it can mount, change its own firewall, load modules",
        ),
        FaultSpec(
            "quota-clamp",
            "api",
            "boxlite-ai/boxlite#662",
            "out-of-range cpus/memory are silently clamped and the box is created (201)",
        ),
        FaultSpec(
            "lifecycle-timers-never-fire",
            "api",
            # boxlite serve accepted and echoed the lifecycle fields but never acted on them;
            # PR #1411 (after #1407) made it enforce them. The stand-in had the same bug.
            "boxlite-ai/boxlite#1407",
            "auto_stop/auto_delete are stored and echoed but never fire: idle boxes live on",
        ),
        FaultSpec(
            "validation-coerce",
            "api",
            "boxlite-ai/boxlite#662",
            "a zero cpus, memory_mib or disk_size_gb is coerced to the default: created (201)",
        ),
        FaultSpec(
            "validation-lenient",
            "api",
            # #662's root cause: the global ValidationPipe set transform but not whitelist /
            # forbidNonWhitelisted, so the DTO's nested rules were never applied.
            "boxlite-ai/boxlite#662",
            "unknown create keys (nested too) and zero disk_io ceilings are accepted (201)",
        ),
        FaultSpec(
            "exec-on-removed-box",
            "api",
            # The bug class issue 14 names from upstream's lifecycle cases: a box id that
            # was removed reaches the exec path and fails there instead of in the lookup.
            "boxlite-e2e/issues#14",
            "exec on a removed box answers 500 internal instead of 404 not_found",
        ),
        FaultSpec(
            "secrets-dropped",
            "runner",
            # POL-303 in apps/e2e/cases/test_pol257_secrets_rest_path.py: secrets= was a
            # silent no-op over REST, so no placeholder reached the guest.
            "boxlite-ai/boxlite POL-303",
            "secrets= is dropped: the guest gets no BOXLITE_SECRET_* placeholder",
        ),
        FaultSpec(
            "secret-value-in-guest",
            "runner",
            # The property scripts/test/e2e/cases/test_secret_no_leak.py pins: the guest
            # sees only the placeholder, the real value stays host-side.
            "boxlite-ai/boxlite POL-257",
            "the guest's BOXLITE_SECRET_* variable carries the real value, not the placeholder",
        ),
        FaultSpec(
            "secret-logged",
            "api",
            # The other half of POL-257's property: the value may cross no log either.
            "boxlite-ai/boxlite POL-257",
            "the API's box.create log line carries the secrets' values",
        ),
        FaultSpec(
            "catalog-unrecorded",
            "api",
            # apps/e2e/cases/test_images_catalog.py step 1: the box boots, the pull that made
            # it work never writes the catalog row.
            "boxlite-ai/boxlite POL-544",
            "a box booted from an unregistered image is never recorded in the image catalog",
        ),
        FaultSpec(
            "files-stream-truncated",
            "api",
            # apps/e2e/cases/test_files_comprehensive.py: chunked-transfer corruption in the
            # REST proxy, what the 4 MB round trip by sha256 exists to catch.
            "boxlite-e2e/issues#14",
            "the API's proxy cuts a copy_out stream after its first MiB",
        ),
        FaultSpec(
            "admin-open",
            "api",
            # apps/e2e/cases/test_pol257_admin_fail_closed.py: /runners must stay 403 while
            # the infrastructure flag is off (POL-331 found /regions answering 500).
            "boxlite-ai/boxlite POL-257",
            "GET /runners answers 200 with the runner's address to an org API key",
        ),
        FaultSpec(
            "rootfs-reset-on-start",
            "runner",
            # scripts/test/e2e/cases/test_restart_persistence.py: the durable-filesystem
            # guarantee; a start from a fresh image copy loses everything the box wrote.
            "boxlite-e2e/issues#14",
            "a box started again boots from a fresh copy of its image: its own writes are gone",
        ),
        FaultSpec(
            "main-command-ignored",
            "runner",
            # apps/e2e/cases/test_box_main_command.py: cmd/entrypoint crossed the wire but a
            # cloud box always booted the image's own init (no upstream issue number).
            "boxlite-e2e/issues#14",
            "a box's entrypoint/cmd are ignored: the image's own init runs instead",
        ),
        FaultSpec(
            "service-killed-on-resume",
            "runner",
            # apps/e2e/cases/test_service_survives_resume.py: a start reboots the box and
            # must replay its entrypoint/cmd; a resume that does not leaves a running box
            # with its declared service gone.
            "boxlite-e2e/issues#14",
            "a box started again (by hand or by auto_resume) does not replay its entrypoint/"
            "cmd: the declared service is gone",
        ),
        FaultSpec(
            "stop-keeps-processes",
            "runner",
            # The other direction of apps/e2e/cases/test_service_survives_resume.py: a stop
            # must end every process in the box; one that only ends the executions it
            # tracks leaves a detached service running in a box reported stopped.
            "boxlite-e2e/issues#14",
            "a stop ends the box's executions but not the box: a detached exec'd process "
            "outlives stop/start",
        ),
        FaultSpec(
            "volume-ephemeral",
            "runner",
            # apps/e2e/cases/test_volume_crud_and_mount.py: a mount not backed by the
            # volume's storage, so what one box wrote is gone for the next.
            "boxlite-e2e/issues#14",
            "a managed volume mount is backed by the box's own scratch dir: data dies with it",
        ),
        FaultSpec(
            "cross-org-lookup",
            "api",
            # The isolation PR #1428 pins: box ids are looked up in every org, not only the
            # caller's, so another org's key reaches a box through its own prefix.
            "boxlite-ai/boxlite#1428",
            "a box id is resolved across all orgs: another org's key can read and act on it",
        ),
    )
}


class FaultError(ValueError):
    """A --fault value that names no known fault or has a bad probability."""


@dataclass(frozen=True)
class ActiveFault:
    spec: FaultSpec
    probability: float = 1.0

    def fires(self, rng: random.Random | None = None) -> bool:
        """True when this occurrence should misbehave (always, for p=1)."""
        if self.probability >= 1.0:
            return True
        return (rng or random).random() < self.probability

    def to_json(self) -> dict:
        doc = asdict(self.spec)
        doc.pop("probabilistic")
        doc["component"] = doc.pop("side")
        doc["probability"] = self.probability
        return doc


def parse_fault(text: str) -> ActiveFault:
    """Parse `NAME` or `NAME=P` (0 < P <= 1; P only for probabilistic faults)."""
    name, sep, prob_text = text.strip().partition("=")
    spec = SPECS.get(name)
    if spec is None:
        known = ", ".join(sorted(SPECS))
        raise FaultError(f"unknown fault {name!r}; known faults: {known} (or 'none')")
    if not sep:
        return ActiveFault(spec)
    if not spec.probabilistic:
        raise FaultError(f"fault {name!r} takes no probability")
    try:
        prob = float(prob_text)
    except ValueError:
        raise FaultError(f"fault {name!r}: probability {prob_text!r} is not a number") from None
    if not 0.0 < prob <= 1.0:
        raise FaultError(f"fault {name!r}: probability must be in (0, 1], got {prob}")
    return ActiveFault(spec, prob)


def parse_faults(values: list[str], side: str | None = None) -> dict[str, ActiveFault]:
    """Parse repeated --fault values; `none` clears. With `side`, keep only that side's."""
    active: dict[str, ActiveFault] = {}
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            if item == "none":
                active.clear()
                continue
            fault = parse_fault(item)
            active[fault.spec.name] = fault
    if side is not None:
        active = {k: v for k, v in active.items() if v.spec.side == side}
    return active
