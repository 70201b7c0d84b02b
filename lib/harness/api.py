"""Raw REST access to a BoxLite API, for what the SDK cannot say, and the stack probe.

Two jobs, both over httpx:

- `ApiClient` (async): cases that send hand-built bodies (validation, quota and error-mapping
  cases) go through it, bound to the org prefix. Every box a 2xx creates here (`POST
  .../boxes`, `.../boxes/import`, `.../boxes/{id}/clone`) is recorded in the same ledger as
  SDK-created boxes, so it is path-verified and removed at teardown: a negative case that
  gets an unexpected 201 must not leak a box (history: docs/history.md). Hand-built create
  bodies also get an `e2e-` name and bounded `auto_stop`/`auto_delete` unless the caller set
  them (or passes `raw=True`).
- `probe_stack` (sync): what the config needs before any case runs — `GET /v1/me` (auth and
  org prefix), `GET /v1/_standin/faults` (which stack, which bugs are injected),
  `GET /v1/config` (capabilities) and `GET /health` (versions). Non-2xx answers are data, not
  exceptions; only transport failures raise `ApiUnreachable`.

Responses are never logged and the key is never part of a repr or message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from lib.errors import HarnessError

DEFAULT_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0

# Bounded lifetime for every harness box (upstream's e2e harness adopted it after stranded
# boxes exhausted an org's disk quota):
# a box a crashed run strands stops after 5 minutes and is deleted after 10.
AUTO_STOP_S = 300
AUTO_DELETE_S = 600
# The real API refuses a non-zero auto_stop below this (MIN_AUTO_STOP_SECONDS,
# apps/api/src/box/constants/box-lifecycle.constants.ts upstream).
UPSTREAM_MIN_AUTO_STOP_S = 60

_CREATE_PATH = re.compile(r"/boxes/?$")
_IMPORT_PATH = re.compile(r"/boxes/import/?$")
_CLONE_PATH = re.compile(r"/boxes/(?P<src>[^/]+)/clone/?$")
_BOX_PATH = re.compile(r"/boxes/(?P<id>[^/?]+)/?$")


class ApiUnreachable(HarnessError):
    """No HTTP answer at all (refused, DNS, TLS, timeout)."""


class BoxRecorder(Protocol):
    """What the ledger offers raw REST: record a created box, note a removed one."""

    def new_name(self) -> str:
        """A fresh run-prefixed box name, for a create body that has none."""

    def record(self, box_id: str, *, name: str | None, route: str) -> None:
        """Note a box a raw request created (`route`: raw-create, raw-clone, raw-import)."""

    def mark_removed(self, id_or_name: str) -> None:
        """Note that a raw DELETE removed the box with this id or name."""


def bounded_lifetime_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Fill `auto_stop`/`auto_delete` each when absent, keeping auto_delete > auto_stop."""
    out = dict(body)
    out.setdefault("auto_stop", AUTO_STOP_S)
    if "auto_delete" not in out:
        stop = out["auto_stop"]
        # The API requires auto_delete == 0 or > auto_stop; a caller's odd auto_stop (a
        # negative-test value) must still produce a body that only tests what it means to.
        if isinstance(stop, int) and not isinstance(stop, bool) and stop > 0:
            out["auto_delete"] = max(AUTO_DELETE_S, stop + AUTO_STOP_S)
        else:
            out["auto_delete"] = AUTO_DELETE_S
    return out


def v1_path(path: str, prefix: str | None) -> str:
    """`/v1/{prefix}{path}` (the SDK inserts the prefix verbatim) or `/v1{path}`."""
    if not path.startswith("/"):
        path = "/" + path
    return f"/v1/{prefix}{path}" if prefix else f"/v1{path}"


@dataclass(frozen=True)
class RestAccess:
    """What any HTTP client needs to reach the API as the run's caller: base URL (with
    `/api`), org prefix and auth headers. For cases that bring their own client (urllib,
    websockets, a second httpx) or hit routes outside `/v1` (admin surfaces); the key is
    in `headers` and never in a repr. Boxes created through it are NOT recorded: create
    boxes with the `api` fixture or the SDK."""

    base_url: str
    prefix: str
    headers: Mapping[str, str] = field(repr=False)

    def v1(self, path: str, *, prefixed: bool = True) -> str:
        """`/v1/{prefix}/path` (or `/v1/path`), relative to `base_url`."""
        return v1_path(path, self.prefix if prefixed else None)

    def url(self, path: str) -> str:
        """Absolute URL of `path` (a path under the API root, e.g. `/v1/me`, `/admin/x`)."""
        return self.base_url.rstrip("/") + ("" if path.startswith("/") else "/") + path

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A fresh authenticated client on `base_url` (the caller closes it)."""
        return httpx.AsyncClient(base_url=self.base_url, headers=dict(self.headers), **kwargs)


def rest_access(base_url: str, api_key: str, prefix: str | None) -> RestAccess:
    """Bearer-key access to the API at `base_url` for the org `prefix` (None: unprefixed)."""
    return RestAccess(base_url.rstrip("/"), prefix or "", {"Authorization": f"Bearer {api_key}"})


class ApiClient:
    """Async raw REST client bound to one API base URL, key and org prefix."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        prefix: str | None,
        *,
        recorder: BoxRecorder | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix or ""
        self._recorder = recorder
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, prefix={self.prefix!r})"

    def path(self, path: str) -> str:
        """Box-scoped path under the org prefix."""
        return v1_path(path, self.prefix)

    async def request(
        self,
        method: str,
        path: str,
        *,
        prefixed: bool = True,
        raw: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; any status is returned, never raised.

        `path` is relative to `/v1/{prefix}` (or `/v1` with `prefixed=False`). A JSON create
        body gets a name and bounded lifetime unless `raw=True`.
        """
        method = method.upper()
        full = self.path(path) if prefixed else v1_path(path, None)
        body = kwargs.get("json")
        name = None
        if method == "POST" and _CREATE_PATH.search(full) and isinstance(body, Mapping):
            if not raw:
                body = bounded_lifetime_body(body)
                if "name" not in body and self._recorder is not None:
                    body["name"] = self._recorder.new_name()
                kwargs["json"] = body
            name = body.get("name") if isinstance(body.get("name"), str) else None
        response = await self._client.request(method, full, **kwargs)
        self._observe(method, full, response, name)
        return response

    def _observe(self, method: str, path: str, response: httpx.Response, name: str | None):
        if self._recorder is None or not response.is_success:
            return
        if method == "POST" and (
            _CREATE_PATH.search(path) or _IMPORT_PATH.search(path) or _CLONE_PATH.search(path)
        ):
            box_id = _box_id(response)
            if box_id:
                route = "raw-import" if _IMPORT_PATH.search(path) else "raw-clone"
                if _CREATE_PATH.search(path):
                    route = "raw-create"
                self._recorder.record(box_id, name=name or _box_name(response), route=route)
        elif method == "DELETE":
            match = _BOX_PATH.search(path)
            if match:
                self._recorder.mark_removed(match.group("id"))

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        """GET `path` under the org prefix; any status is returned (see `request`)."""
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        """POST `path`; a create body gets a name and bounded lifetime (see `request`)."""
        return await self.request("POST", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        """DELETE `path`; a box removed this way is marked in the ledger."""
        return await self.request("DELETE", path, **kw)

    async def create_box(self, body: Mapping[str, Any], *, raw: bool = False) -> httpx.Response:
        """POST /boxes; `raw=True` sends `body` as given (no name or lifetime added)."""
        return await self.request("POST", "/boxes", json=dict(body), raw=raw)

    async def aclose(self) -> None:
        """Close the HTTP client and its pooled connections."""
        await self._client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _box_id(response: httpx.Response) -> str | None:
    doc = _json(response)
    if isinstance(doc, dict) and isinstance(doc.get("box_id"), str):
        return doc["box_id"]
    return None


def _box_name(response: httpx.Response) -> str | None:
    doc = _json(response)
    if isinstance(doc, dict) and isinstance(doc.get("name"), str):
        return doc["name"]
    return None


# --------------------------------------------------------------------------- stack probe


@dataclass(frozen=True)
class Answer:
    """One stack probe's HTTP status and its decoded JSON body (None when not JSON)."""

    status: int
    body: Any = None

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


@dataclass(frozen=True)
class StackFacts:
    """What the API says about itself, fetched once per process before any case runs."""

    me: Answer
    faults: Answer
    config: Answer
    health: Answer
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Stand-in only (`GET /v1/_standin/lifecycle`): the auto_stop floor it runs with.
    lifecycle: Answer | None = None


def probe_stack(
    base_url: str,
    api_key: str,
    *,
    timeout: float = PROBE_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> StackFacts:
    """Ask the API who we are, which faults it injects, its capabilities and health."""
    base = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(
        base_url=base, headers=headers, timeout=timeout, transport=transport
    ) as client:

        def get(path: str) -> Answer:
            try:
                response = client.get(path)
            except httpx.HTTPError as exc:
                raise ApiUnreachable(
                    f"no answer from {base}{path}: {type(exc).__name__}: {exc}"
                ) from None
            return Answer(response.status_code, _json(response))

        me = get("/v1/me")
        return StackFacts(
            me=me,
            faults=get("/v1/_standin/faults"),
            config=get("/v1/config"),
            health=get("/health"),
            lifecycle=get("/v1/_standin/lifecycle"),
        )
