"""Make a running stack usable by the suite: snapshots, quota, a credentials profile.

Why this exists: a fresh API has no snapshots (box creates of an unregistered image fail),
an admin org with zero per-box quota (every create is refused), and the SDK needs a profile.
Upstream patched quotas and read snapshot state with SQL on fixed credentials, interpolated
names into SQL, hand-wrote the TOML with the default umask and overwrote the user's
`[profiles.default]` (upstream-harness.md §4, §12). Here everything goes through the API
(httpx), is idempotent, and the credentials are written last, only when everything before
succeeded:

1. `GET /v1/me` proves the API is up and the admin key valid, and gives the org prefix.
2. The org's per-box quota is raised to at least 4 CPUs / 8 GiB / 20 GB (never lowered).
3. The stack's snapshots are registered and waited on until `active`, with a deadline; an
   `error` is retried once (delete and register again), then reported with its reason.
4. `[profiles.p1]` (url, api_key, auth_method, path_prefix, stack) is written 0600,
   atomically, keeping every other profile (lib/harness/credentials.py). `[profiles.default]` is
   written only when absent or written by this tool before; otherwise it is kept, and said.

`--check` verifies all of the above and changes nothing. Failures are one clear message and a
non-zero exit; the admin key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from lib.harness import credentials
from lib.layout import Layout
from lib.stack import secrets

SNAPSHOTS = {
    "standin": ["e2e/busybox:stable"],
    "cloud": ["alpine:3.23", "ubuntu:22.04", "ubuntu:24.04", "python:3.12-bookworm"],
}
TOOLS_IMAGE = "e2e/tools:stable"
QUOTA = {"maxCpuPerBox": 4, "maxMemoryPerBox": 8, "maxDiskPerBox": 20}
PROFILE = "p1"
POLL = 0.25


class SetupError(RuntimeError):
    """One clear message for the operator; the exit is non-zero and nothing was written."""


@dataclass(frozen=True)
class Settings:
    api_url: str
    admin_key: str
    key_source: str
    stack: str
    profile: str
    credentials: Path
    deadline: float
    snapshots: tuple[str, ...] = ()


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
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
        snapshots=tuple(_snapshot_names(stack, layout)),
    )


def _recorded_stack(layout: Layout) -> str | None:
    return _record(layout).get("stack")


def _record(layout: Layout) -> dict:
    try:
        return json.loads((layout.config_dir / "stack.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _snapshot_names(stack: str, layout: Layout) -> list[str]:
    """The stack's snapshots; on the stand-in the tools image only when bootstrap pushed it
    (`BOXLITE_E2E_TOOLS_IMAGE=0` skips its minutes-long build)."""
    names = list(SNAPSHOTS[stack])
    if stack == "standin" and _record(layout).get("tools_image"):
        names.append(TOOLS_IMAGE)
    return names


def snapshot_names(settings: Settings) -> list[str]:
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
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SetupError(
                f"API unreachable at {self.s.api_url} ({type(exc).__name__}: {exc}). "
                f"Is the stack up? (./bootstrap.sh --stack {self.s.stack})"
            ) from None
        if resp.status_code in (401, 403) and path.endswith("/me"):
            raise SetupError(
                f"the API at {self.s.api_url} rejected the admin key from {self.s.key_source} "
                f"(HTTP {resp.status_code}). If the secrets were re-minted while the database "
                "kept the old admin, run ./teardown.sh --wipe-data and bootstrap again."
            )
        return resp

    def expect(self, resp: httpx.Response, *ok: int) -> dict | list:
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
        body = self.expect(self.call("GET", "/v1/me"), 200)
        if not isinstance(body, dict) or "sub" not in body:
            raise SetupError(f"GET /v1/me returned no principal: {str(body)[:200]}")
        return body

    def quota(self, org: str) -> dict | None:
        resp = self.call("GET", f"/admin/organizations/{quote(org, safe='')}/quota")
        return None if resp.status_code == 404 else self.expect(resp, 200)

    def raise_quota(self, org: str, body: dict) -> None:
        resp = self.call("PATCH", f"/admin/organizations/{quote(org, safe='')}/quota", json=body)
        if resp.status_code == 404:  # older API: the non-admin route
            resp = self.call("PATCH", f"/organizations/{quote(org, safe='')}/quota", json=body)
        self.expect(resp, 200, 204)

    def snapshot(self, name: str) -> dict | None:
        body = self.expect(self.call("GET", "/snapshots", params={"name": name}), 200)
        items = body.get("items", []) if isinstance(body, dict) else body
        return next((s for s in items if s.get("name") == name), None)  # ?name= is a substring

    def register(self, name: str) -> dict:
        body = {"name": name, "imageName": name, "cpu": 1, "memory": 1, "disk": 2}
        return self.expect(self.call("POST", "/snapshots", json=body), 200, 201)

    def delete_snapshot(self, snap: dict) -> None:
        self.expect(self.call("DELETE", f"/snapshots/{quote(snap['id'], safe='')}"), 200, 204)


def wait_active(api: Api, name: str, deadline: float) -> dict:
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


def quota_gap(current: dict | None) -> dict:
    """The quota fields below the wanted minimum (all of them when unknown)."""
    if current is None:
        return dict(QUOTA)
    return {k: v for k, v in QUOTA.items() if not (current.get(k) or 0) >= v}


def profile_body(settings: Settings, prefix: str) -> dict:
    return {
        "url": settings.api_url,
        "api_key": settings.admin_key,
        "auth_method": "api_key",
        "path_prefix": prefix,
        "stack": settings.stack,
    }


def write_credentials(settings: Settings, prefix: str, say: Callable) -> None:
    path, body = settings.credentials, profile_body(settings, prefix)
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


def setup(settings: Settings, api: Api, say: Callable) -> None:
    me = api.me()
    prefix = me.get("path_prefix", me.get("prefix"))
    if not prefix:
        raise SetupError("GET /v1/me returned no path_prefix: cannot address the org")
    say(f"API {settings.api_url}: admin {me['sub']}, org {prefix}")
    gap = quota_gap(api.quota(prefix))
    if gap:
        api.raise_quota(prefix, gap)
        say(f"quota: raised {', '.join(f'{k}={v}' for k, v in gap.items())}")
    else:
        say("quota: already at least " + ", ".join(f"{k}={v}" for k, v in QUOTA.items()))
    ensure_snapshots(api, snapshot_names(settings), settings.deadline, say)
    write_credentials(settings, prefix, say)  # last: only after everything else worked


def check(settings: Settings, api: Api, say: Callable) -> list[str]:
    """Problems found (empty: all good). Reads only."""
    problems = []
    me = api.me()
    prefix = me.get("path_prefix", me.get("prefix"))
    gap = quota_gap(api.quota(prefix))
    if gap:
        problems.append(f"quota below the minimum: {gap}")
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
        wrong = [k for k, v in profile_body(settings, prefix).items() if profile.get(k) != v]
        if wrong:
            problems.append(f"[profiles.{settings.profile}] differs in: {', '.join(wrong)}")
        mode = settings.credentials.stat().st_mode & 0o777
        if mode != 0o600:
            problems.append(f"{settings.credentials} has mode {mode:04o}, not 0600")
    for p in problems:
        say(f"check: {p}")
    return problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fixture_setup.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--stack", help="standin or cloud (default: BOXLITE_E2E_STACK, then the bootstrap record)"
    )
    p.add_argument("--check", action="store_true", help="verify only; change nothing")
    p.add_argument("--profile", default=PROFILE, help=f"profile to write (default {PROFILE})")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per snapshot wait")
    return p


def main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
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
