"""Make a running stack usable by the suite: images, quota, org keys, a credentials profile.

Why this exists: a fresh API has no snapshots (box creates of an unregistered image fail),
an admin org with zero per-box quota (every create is refused), and the SDK needs a profile.
Everything goes through the API (httpx), never the database, is idempotent, and the
credentials are written last, only when everything before succeeded (history:
docs/history.md):

1. `GET /v1/me` proves the API is up and the admin key valid, and gives the org prefix.
2. The org's quota is raised to at least the suite's minimum (never lowered), in the keys the
   stack's quota DTO has: the stand-in's per-box `maxCpuPerBox`...; upstream's admin DTO
   `totalCpuQuota`, `totalMemoryQuota`, `totalDiskQuota`, `maxConcurrentBoxes`
   (apps/api/src/admin/dto/organization-quota.dto.ts; per-box ceilings there come from
   `ADMIN_MAX_*_PER_SANDBOX`, configuration.ts); older eras' `maxCpuPerSandbox`...
   (organization/dto/update-organization-quota.dto.ts). Keys a DTO lacks are a 200 no-op,
   which is how "quota: raised" used to repeat forever (issue 13 M1).
3. Snapshot-era stacks get their snapshots registered and waited on until `active` (an
   `error` is retried once); image-catalog stacks (newest upstream: `/api/snapshots` is
   gone, images are recorded on first use) skip this (issue 13 B7).
4. Least privilege (issue 13, deliverable 4): the cases never get the admin key. An API key
   scoped to the org is minted through the API (`POST /api/api-keys`, header
   `X-BoxLite-Organization-ID`, body `{name, permissions}`; upstream api-key.controller.ts,
   create-api-key.dto.ts), and a second org (`POST /api/organizations {name,
   defaultRegionId}`) with its own key, for cross-org cases. Keys that still work are
   reused; the admin key stays in the secrets file, for fixture setup only.
5. `[profiles.p1]` (url, the org key, auth_method, path_prefix, stack, the second org's key
   and prefix) is written 0600, atomically, keeping every other profile
   (lib/harness/credentials.py). `[profiles.default]` is written only when absent or
   written by this tool before; otherwise it is kept, and said.

`--check` verifies all of the above and changes nothing. Failures are one clear message and a
non-zero exit; the admin key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as secrets_lib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from lib.errors import HarnessError
from lib.harness import credentials
from lib.layout import Layout
from lib.stack import secrets

SNAPSHOTS = {
    "standin": ["e2e/busybox:stable"],
    "cloud": ["alpine:3.23", "ubuntu:22.04", "ubuntu:24.04", "python:3.12-bookworm"],
}
# The minimum the suite needs, per quota DTO (see the module docstring, step 2).
QUOTAS = {
    "standin": {"maxCpuPerBox": 4, "maxMemoryPerBox": 8, "maxDiskPerBox": 20},
    "per-sandbox": {"maxCpuPerSandbox": 4, "maxMemoryPerSandbox": 8, "maxDiskPerSandbox": 20},
    "admin-total": {
        "totalCpuQuota": 16,
        "totalMemoryQuota": 32,
        "totalDiskQuota": 100,
        "maxConcurrentBoxes": 20,
    },
}
QUOTA = QUOTAS["standin"]
# Per-box CPU ceiling key per DTO, written to the profile for the quota cases (which run with
# the org key and so cannot read admin routes themselves).
PER_BOX_CPU = {"standin": "maxCpuPerBox", "per-sandbox": "maxCpuPerSandbox"}
# What a case key may do (upstream OrganizationResourcePermission values); intersected with
# what the checkout's enum defines when bootstrap recorded it.
CASE_PERMISSIONS = (
    "write:boxes",
    "delete:boxes",
    "write:sandboxes",
    "delete:sandboxes",
    "read:volumes",
    "write:volumes",
    "delete:volumes",
    "read:images",
    "delete:images",
)
STANDIN_PERMISSIONS = ("write:boxes", "delete:boxes", "read:volumes", "write:volumes",
                       "delete:volumes", "read:images", "delete:images")  # fmt: skip
ORG_HEADER = "X-BoxLite-Organization-ID"
SECOND_ORG_NAME = "boxlite-e2e-second"
DEFAULT_REGION = "us"  # configuration.ts defaultRegion.id default
TOOLS_IMAGE = "e2e/tools:stable"
PROFILE = "p1"
POLL = 0.25


class SetupError(HarnessError):
    """One clear message for the operator; the exit is non-zero and nothing was written."""


@dataclass(frozen=True)
class Settings:
    """Where the API is, the admin key and where it came from, the stack, and the profile to
    write."""

    api_url: str
    admin_key: str
    key_source: str
    stack: str
    profile: str
    credentials: Path
    deadline: float
    era: Mapping = field(default_factory=dict)  # bootstrap's checkout record (cloud)
    snapshots: tuple[str, ...] = ()  # what to register; empty: SNAPSHOTS[stack]

    @property
    def quota_api(self) -> str:
        """Which quota DTO the stack speaks: the stand-in's, or the checkout era's."""
        if self.stack == "standin":
            return "standin"
        return str(self.era.get("quota_api") or "admin-total")

    @property
    def minimum(self) -> dict:
        """The quota the suite needs, in that DTO's keys."""
        return QUOTAS[self.quota_api]

    @property
    def permissions(self) -> list[str]:
        """Permissions for minted case keys: the era's known names, else the newest set."""
        if self.stack == "standin":
            return list(STANDIN_PERMISSIONS)
        known = self.era.get("permissions") or []
        if not known:  # no record: the newest era's names
            return list(STANDIN_PERMISSIONS)
        return [p for p in CASE_PERMISSIONS if p in known]


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Settings from args and env; the admin key from the env or the secrets file, the stack from
    args, env or the bootstrap record."""
    layout = Layout.from_env(env)
    api_url = (env.get("BOXLITE_E2E_API_URL") or layout.api_url).rstrip("/")
    key, source = env.get("BOXLITE_E2E_ADMIN_KEY", ""), "BOXLITE_E2E_ADMIN_KEY"
    if not key:
        source = str(layout.secrets_file)
        try:
            key = secrets.load(layout.secrets_file).get("ADMIN_API_KEY", "")
        except secrets.SecretsError as exc:
            raise SetupError(str(exc)) from None
    if not key:
        raise SetupError(
            f"no admin key: set BOXLITE_E2E_ADMIN_KEY or run ./bootstrap.sh first "
            f"(it mints ADMIN_API_KEY into {layout.secrets_file})"
        )
    stack = args.stack or env.get("BOXLITE_E2E_STACK") or _recorded_stack(layout)
    if stack not in SNAPSHOTS:
        raise SetupError(
            f"unknown stack {stack!r}: pass --stack {' or --stack '.join(SNAPSHOTS)} "
            "(or bootstrap first: it records the stack)"
            if stack
            else "unknown stack: pass --stack standin|cloud (no bootstrap record found in "
            f"{layout.config_dir / 'stack.json'})"
        )
    return Settings(
        api_url=api_url,
        admin_key=key,
        key_source=source,
        stack=stack,
        profile=args.profile,
        credentials=credentials.credentials_path(env),
        deadline=args.timeout,
        era=_record(layout).get("checkout") or {},
        snapshots=tuple(_snapshot_names(stack, layout)),
    )


def _record(layout: Layout) -> dict:
    try:
        doc = json.loads((layout.config_dir / "stack.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _recorded_stack(layout: Layout) -> str | None:
    return _record(layout).get("stack")


def _snapshot_names(stack: str, layout: Layout) -> list[str]:
    """The stack's snapshots; on the stand-in the tools image only when bootstrap pushed it
    (`BOXLITE_E2E_TOOLS_IMAGE=0` skips its minutes-long build)."""
    names = list(SNAPSHOTS[stack])
    if stack == "standin" and _record(layout).get("tools_image"):
        names.append(TOOLS_IMAGE)
    return names


def snapshot_names(settings: Settings) -> list[str]:
    """What setup registers and check expects, for this stack."""
    return list(settings.snapshots or SNAPSHOTS[settings.stack])


class Api:
    """The few admin calls, with errors turned into one sentence each."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.s = settings
        self.http = httpx.Client(
            base_url=settings.api_url,
            headers={"Authorization": f"Bearer {settings.admin_key}"},
            timeout=15,
            transport=transport,
        )

    def call(self, method: str, path: str, **kw) -> httpx.Response:
        """One request; an unreachable API or a rejected admin key becomes a SetupError saying
        what to do."""
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SetupError(
                f"API unreachable at {self.s.api_url} ({type(exc).__name__}: {exc}). "
                f"Is the stack up? (./bootstrap.sh --stack {self.s.stack})"
            ) from None
        if resp.status_code in (401, 403) and path.endswith("/me") and "headers" not in kw:
            raise SetupError(
                f"the API at {self.s.api_url} rejected the admin key from {self.s.key_source} "
                f"(HTTP {resp.status_code}). If the secrets were re-minted while the database "
                "kept the old admin, run ./teardown.sh --wipe-data and bootstrap again."
            )
        return resp

    def expect(self, resp: httpx.Response, *ok: int) -> dict | list:
        """The JSON body when the status is one of `ok`, else a SetupError quoting the answer."""
        if resp.status_code not in ok:
            raise SetupError(
                f"{resp.request.method} {resp.request.url.path} answered {resp.status_code}: "
                f"{resp.text[:300]}"
            )
        try:
            return resp.json() if resp.content else {}
        except ValueError:
            raise SetupError(
                f"{resp.request.method} {resp.request.url.path} answered {resp.status_code} "
                f"with a body that is not JSON: {resp.text[:200]}"
            ) from None

    # -- calls ----------------------------------------------------------------------------------
    def me(self) -> dict:
        """The admin principal from GET /v1/me (its `sub` and org prefix)."""
        body = self.expect(self.call("GET", "/v1/me"), 200)
        if not isinstance(body, dict) or "sub" not in body:
            raise SetupError(f"GET /v1/me returned no principal: {str(body)[:200]}")
        return body

    def quota(self, org: str) -> dict | None:
        """The org's quota, None when the admin route does not know the org."""
        resp = self.call("GET", f"/admin/organizations/{quote(org, safe='')}/quota")
        return None if resp.status_code == 404 else self.expect(resp, 200)

    def raise_quota(self, org: str, body: dict) -> None:
        """PATCH the org's quota, falling back to the non-admin route on older APIs."""
        resp = self.call("PATCH", f"/admin/organizations/{quote(org, safe='')}/quota", json=body)
        if resp.status_code == 404:  # older API: the non-admin route
            resp = self.call("PATCH", f"/organizations/{quote(org, safe='')}/quota", json=body)
        self.expect(resp, 200, 204)

    def me_with(self, key: str) -> dict | None:
        """`/v1/me` as `key` sees it; None when the key is refused."""
        resp = self.call("GET", "/v1/me", headers={"Authorization": f"Bearer {key}"})
        if resp.status_code != 200:
            return None
        try:
            body = resp.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def create_org(self, name: str) -> str:
        """Create an organization through the API; returns its id."""
        body = {"name": name, "defaultRegionId": DEFAULT_REGION}
        org = self.expect(self.call("POST", "/organizations", json=body), 200, 201)
        if not isinstance(org, dict) or not org.get("id"):
            raise SetupError(f"POST /organizations returned no id: {str(org)[:200]}")
        return str(org["id"])

    def mint_key(self, org: str, name: str, permissions: list[str]) -> str:
        """Mint an API key scoped to `org` with `permissions`; returns its value (secret)."""
        body = {"name": name, "permissions": permissions}
        resp = self.call("POST", "/api-keys", json=body, headers={ORG_HEADER: org})
        minted = self.expect(resp, 200, 201)
        if not isinstance(minted, dict) or not minted.get("value"):
            raise SetupError("POST /api-keys returned no key value")
        return str(minted["value"])

    def images_catalog(self, prefix: str) -> bool:
        """True when the stack serves snapshots no more (the image catalog era)."""
        return self.call("GET", "/snapshots").status_code == 404

    def snapshot(self, name: str) -> dict | None:
        """The snapshot with exactly this name, or None (`?name=` matches substrings)."""
        body = self.expect(self.call("GET", "/snapshots", params={"name": name}), 200)
        items = body.get("items", []) if isinstance(body, dict) else body
        return next((s for s in items if s.get("name") == name), None)  # ?name= is a substring

    def register(self, name: str) -> dict:
        """Register a snapshot of image `name` (1 CPU, 1 GiB, 2 GB)."""
        body = {"name": name, "imageName": name, "cpu": 1, "memory": 1, "disk": 2}
        return self.expect(self.call("POST", "/snapshots", json=body), 200, 201)

    def delete_snapshot(self, snap: dict) -> None:
        """DELETE it by id (the error retry re-registers it); 200 or 204 expected."""
        self.expect(self.call("DELETE", f"/snapshots/{quote(snap['id'], safe='')}"), 200, 204)


def wait_active(api: Api, name: str, deadline: float) -> dict:
    """Poll the snapshot until it is active or in error; SetupError when it vanishes or the
    deadline passes."""
    end = time.monotonic() + deadline
    while True:
        snap = api.snapshot(name)
        if snap is None:
            raise SetupError(f"snapshot {name} disappeared while waiting for it")
        if snap.get("state") in ("active", "error"):
            return snap
        if time.monotonic() >= end:
            raise SetupError(
                f"snapshot {name} not active within {deadline:.0f}s (state {snap.get('state')})"
            )
        time.sleep(POLL)


def ensure_snapshots(api: Api, names: list[str], deadline: float, say: Callable) -> None:
    """Register missing snapshots and wait for each to be active, re-registering once after an
    error."""
    existing = {n: api.snapshot(n) for n in names}
    for name, snap in existing.items():
        if snap is None:
            api.register(name)
            say(f"snapshot {name}: registered")
    for name in names:
        snap = wait_active(api, name, deadline)
        if snap["state"] == "error":
            # One retry: a transient pull failure (registry restarting) should not stick.
            say(f"snapshot {name}: error ({snap.get('errorReason')}); retrying once")
            api.delete_snapshot(snap)
            api.register(name)
            snap = wait_active(api, name, deadline)
            if snap["state"] == "error":
                raise SetupError(f"snapshot {name} failed twice: {snap.get('errorReason')}")
        if existing[name] is None or existing[name].get("state") != "active":
            say(f"snapshot {name}: active")
        else:
            say(f"snapshot {name}: already active")


def quota_gap(current: dict | None, minimum: Mapping[str, int] = QUOTA) -> dict:
    """The quota fields below the wanted minimum (all of them when unknown)."""
    if current is None:
        return dict(minimum)
    return {k: v for k, v in minimum.items() if not (current.get(k) or 0) >= v}


@dataclass(frozen=True)
class CaseKeys:
    """What the cases get: an org-scoped key, and a second org with its own."""

    api_key: str = field(repr=False)
    second_api_key: str = field(repr=False)
    second_prefix: str
    max_cpus_per_box: int | None = None


def profile_body(settings: Settings, prefix: str, keys: CaseKeys) -> dict:
    """The credentials profile: this API, the org key, the org prefix and the second org."""
    body = {
        "url": settings.api_url,
        "api_key": keys.api_key,
        "auth_method": "api_key",
        "path_prefix": prefix,
        "stack": settings.stack,
        "second_api_key": keys.second_api_key,
        "second_path_prefix": keys.second_prefix,
    }
    if keys.max_cpus_per_box is not None:
        body["max_cpus_per_box"] = keys.max_cpus_per_box
    return body


def _old_profile(settings: Settings) -> dict:
    try:
        return credentials.load_profiles(settings.credentials).get(settings.profile) or {}
    except credentials.CredentialsError:
        return {}


def _still_valid(api: Api, key: object, prefix: str, admin_key: str) -> bool:
    if not isinstance(key, str) or not key or key == admin_key:
        return False
    me = api.me_with(key)
    return me is not None and me.get("path_prefix", me.get("prefix")) == prefix


def _key_name(role: str) -> str:
    return f"boxlite-e2e-{role}-{secrets_lib.token_hex(3)}"


def ensure_case_keys(settings: Settings, api: Api, prefix: str, say: Callable) -> CaseKeys:
    """Reuse the profile's keys while they work; otherwise mint new ones (never the admin's)."""
    old = _old_profile(settings)
    perms = settings.permissions
    if _still_valid(api, old.get("api_key"), prefix, settings.admin_key):
        key = str(old["api_key"])
        say(f"keys: org key for {prefix} still valid, kept")
    else:
        key = api.mint_key(prefix, _key_name("cases"), perms)
        say(f"keys: minted an org key for {prefix} ({', '.join(perms)})")
    second = old.get("second_path_prefix")
    if isinstance(second, str) and _still_valid(
        api, old.get("second_api_key"), second, settings.admin_key
    ):
        second_key = str(old["second_api_key"])
        say(f"keys: second org {second} and its key still valid, kept")
    else:
        second = api.create_org(SECOND_ORG_NAME)
        second_key = api.mint_key(second, _key_name("second"), perms)
        say(f"keys: created second org {second} and minted its key")
    ensure_quota(settings, api, second, say, label=f"quota ({second})")
    cpu_key = PER_BOX_CPU.get(settings.quota_api)
    per_box = None
    if cpu_key:
        current = api.quota(prefix) or {}
        per_box = int(current.get(cpu_key) or 0) or None
    elif settings.stack == "cloud":
        per_box = None  # admin-total era: per-box ceilings are env (ADMIN_MAX_*), unreadable
    return CaseKeys(key, second_key, second, per_box)


def ensure_quota(
    settings: Settings, api: Api, org: str, say: Callable, label: str = "quota"
) -> None:
    """Raise `org`'s quota to the suite's minimum (never lower it); verify it took."""
    gap = quota_gap(api.quota(org), settings.minimum)
    if gap:
        api.raise_quota(org, gap)
        say(f"{label}: raised {', '.join(f'{k}={v}' for k, v in gap.items())}")
        after = quota_gap(api.quota(org), settings.minimum)
        if after and api.quota(org) is not None:
            raise SetupError(
                f"{label}: PATCH answered 2xx but {', '.join(after)} did not change: the "
                "stack's quota DTO has other keys (is the recorded checkout era right?)"
            )
    else:
        say(
            f"{label}: already at least "
            + ", ".join(f"{k}={v}" for k, v in settings.minimum.items())
        )


def write_credentials(settings: Settings, prefix: str, keys: CaseKeys, say: Callable) -> None:
    """Write our profile (never over a profile we did not write), and `default` when absent or
    ours; the file ends up 0600."""
    path, body = settings.credentials, profile_body(settings, prefix, keys)
    try:
        before = credentials.load_profiles(path)
        old = before.get(settings.profile)
        if old is not None and not credentials.is_managed(old):
            raise SetupError(
                f"profile {settings.profile!r} in {path} was not written by boxlite-e2e; "
                "not overwriting it (choose another with --profile)"
            )
        same = old is not None and all(old.get(k) == v for k, v in body.items())
        if not same:
            credentials.write_profile(path, settings.profile, body)
        say(
            f"credentials: [profiles.{settings.profile}] {'unchanged' if same else 'written'} "
            f"in {path} (0600)"
        )
        default = before.get("default")
        if default is None or credentials.is_managed(default):
            if default is None or any(default.get(k) != v for k, v in body.items()):
                credentials.write_profile(path, "default", body)
                say("credentials: [profiles.default] written (absent or ours before)")
        else:
            say(
                "credentials: kept your own [profiles.default] (not written by boxlite-e2e); "
                f"the suite uses [profiles.{settings.profile}]"
            )
        if (path.stat().st_mode & 0o777) != 0o600:
            os.chmod(path, 0o600)
    except credentials.CredentialsError as exc:
        raise SetupError(str(exc)) from None


def _uses_snapshots(settings: Settings, api: Api, prefix: str) -> bool:
    images = settings.era.get("images")
    if images in ("catalog", "snapshots"):
        return images == "snapshots"
    return not api.images_catalog(prefix)


def setup(settings: Settings, api: Api, say: Callable) -> None:
    """Check the admin, raise the quota, make the snapshots active, then write the credentials
    last."""
    me = api.me()
    prefix = me.get("path_prefix", me.get("prefix"))
    if not prefix:
        raise SetupError("GET /v1/me returned no path_prefix: cannot address the org")
    say(f"API {settings.api_url}: admin {me['sub']}, org {prefix}")
    ensure_quota(settings, api, prefix, say)
    if _uses_snapshots(settings, api, prefix):
        ensure_snapshots(api, snapshot_names(settings), settings.deadline, say)
    else:
        say("images: image-catalog stack, images are recorded on first use (no snapshots)")
    keys = ensure_case_keys(settings, api, prefix, say)
    write_credentials(settings, prefix, keys, say)  # last: only after everything else worked


def check(settings: Settings, api: Api, say: Callable) -> list[str]:
    """Problems found (empty: all good). Reads only."""
    problems = []
    me = api.me()
    prefix = me.get("path_prefix", me.get("prefix"))
    gap = quota_gap(api.quota(prefix), settings.minimum)
    if gap:
        problems.append(f"quota below the minimum: {gap}")
    if _uses_snapshots(settings, api, prefix):
        for name in snapshot_names(settings):
            snap = api.snapshot(name)
            state = snap.get("state") if snap else "missing"
            if state != "active":
                problems.append(f"snapshot {name} is {state}")
    try:
        profile = credentials.load_profiles(settings.credentials).get(settings.profile)
    except credentials.CredentialsError as exc:
        profile, problems = None, [*problems, str(exc)]
    if profile is None:
        problems.append(f"no [profiles.{settings.profile}] in {settings.credentials}")
    else:
        stable = {"url": settings.api_url, "auth_method": "api_key", "path_prefix": prefix,
                  "stack": settings.stack}  # fmt: skip
        wrong = [k for k, v in stable.items() if profile.get(k) != v]
        if wrong:
            problems.append(f"[profiles.{settings.profile}] differs in: {', '.join(wrong)}")
        if profile.get("api_key") == settings.admin_key:
            problems.append(f"[profiles.{settings.profile}] holds the admin key (least privilege)")
        elif not _still_valid(api, profile.get("api_key"), prefix, settings.admin_key):
            problems.append(f"[profiles.{settings.profile}] api_key is not a working org key")
        second = profile.get("second_path_prefix")
        if not isinstance(second, str) or not _still_valid(
            api, profile.get("second_api_key"), second, settings.admin_key
        ):
            problems.append(f"[profiles.{settings.profile}] has no working second-org key")
        mode = settings.credentials.stat().st_mode & 0o777
        if mode != 0o600:
            problems.append(f"{settings.credentials} has mode {mode:04o}, not 0600")
    for p in problems:
        say(f"check: {p}")
    return problems


def parser() -> argparse.ArgumentParser:
    """The command line of fixture_setup.py."""
    p = argparse.ArgumentParser(prog="fixture_setup.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--stack", help="standin or cloud (default: BOXLITE_E2E_STACK, then the bootstrap record)"
    )
    p.add_argument("--check", action="store_true", help="verify only; change nothing")
    p.add_argument("--profile", default=PROFILE, help=f"profile to write (default {PROFILE})")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per snapshot wait")
    return p


def main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
    """CLI: set the stack up for the suite (or `--check` only); 1 on a SetupError, 2 for
    `--profile default`."""
    args = parser().parse_args(argv)
    if args.profile == "default":
        print(
            "fixture_setup: --profile default is refused: [profiles.default] is the user's "
            "(it is written only when absent or ours)",
            file=sys.stderr,
        )
        return 2

    def say(line: str) -> None:
        print(f"fixture_setup: {line}", flush=True)

    try:
        settings = resolve(args, os.environ if env is None else env)
        api = Api(settings)
        if args.check:
            problems = check(settings, api, say)
            say("check: all good" if not problems else f"check: {len(problems)} problem(s)")
            return 1 if problems else 0
        setup(settings, api, say)
    except SetupError as exc:
        print(f"fixture_setup: {exc}", file=sys.stderr)
        return 1
    say(f"ready: stack {settings.stack}, profile {settings.profile}")
    return 0
