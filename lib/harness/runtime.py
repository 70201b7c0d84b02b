"""The only runtime cases get: `Boxlite.rest`, wrapped so the harness owns every box.

A box the harness does not know about is neither path-checked nor removed, so every route
that makes one is recorded and every removal failure reported (history: docs/history.md):

- `BoxLedger` records every box, the route that made it and the test that was running, and
  mints attributable names `e2e-<run id>[-<xdist worker>]-<hex>` (unique under `-n`, and a
  sweeper can tell one session's boxes from another's, even after a killed run);
- `TrackedRuntime` / `TrackedBox` wrap the SDK objects: `create`, `get_or_create`,
  `import_box` and `Box.clone_box` are recorded and named; `remove` marks a box gone; every
  other attribute passes through, and `isinstance` still sees the SDK classes;
- SDK creates get bounded `auto_stop`/`auto_delete` (300 s / 600 s) when the caller set
  neither, because the SDK requires `auto_delete` to be 0 or greater than `auto_stop` and a
  half-filled pair could turn a valid request invalid;
- `remove_boxes` removes what is left and returns failures for the caller to report;
- `forbid_local_runtime` makes `Boxlite.default()`, `Boxlite(Options(...))`,
  `init_default` and every wrapper built on them (SimpleBox/CodeBox/... without a runtime,
  SyncBoxlite) raise inside cases: those run in-process over FFI and never touch the API or
  the runner, which is exactly the path this harness exists to test. `Boxlite.rest` keeps
  working but returns a tracked runtime, so even a second runtime made in a case is owned.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boxlite
import boxlite.boxlite as _native_module

from lib.errors import HarnessError
from lib.harness.api import AUTO_DELETE_S, AUTO_STOP_S

NATIVE_BOXLITE = _native_module.Boxlite
# Captured at import, before any case can patch it: the harness's own way in.
_NATIVE_REST = NATIVE_BOXLITE.rest
REMOVE_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- ledger


@dataclass
class BoxRecord:
    """One box this process created: by which route, in which test, and whether it is gone."""

    box_id: str
    name: str | None
    route: str
    test: str | None
    created_at: float
    removed: bool = False
    owner: str = "test"  # "fixture": box/box_factory own it, so leaving it is not a leak
    removal_failed: bool = False  # a failed removal was already reported for this box

    def to_json(self) -> dict[str, str | None]:
        """Id, name and route, for the reports."""
        return {"box_id": self.box_id, "name": self.name, "route": self.route}


class BoxLedger:
    """Every box this process created, by route and by test; thread-safe."""

    def __init__(self, run_id: str, worker: str | None = None):
        self.prefix = "e2e-" + run_id + (f"-{worker}" if worker else "")
        self._lock = threading.Lock()
        self._records: list[BoxRecord] = []
        self._current: str | None = None

    def new_name(self) -> str:
        """A fresh `<prefix>-<8 hex>` name, so every box of the run is recognisable on the stack."""
        return f"{self.prefix}-{secrets.token_hex(4)}"

    def record(self, box_id: str, *, name: str | None, route: str) -> BoxRecord:
        """Record a created box under the current test; a known id returns its existing record."""
        with self._lock:
            for rec in self._records:
                if rec.box_id == box_id:
                    return rec  # e.g. get_or_create then raw POST echoing the same box
            rec = BoxRecord(box_id, name, route, self._current, time.time())
            self._records.append(rec)
            return rec

    def adopt(self, box_id: str, name: str | None = None, route: str = "adopted") -> BoxRecord:
        """Own a box created outside this process (CLI, subprocess SDK drivers)."""
        return self.record(box_id, name=name, route=route)

    def claim(self, box_id: str) -> None:
        """A fixture owns this box: removing it at teardown is the plan, not a leak."""
        with self._lock:
            for rec in self._records:
                if rec.box_id == box_id:
                    rec.owner = "fixture"

    def mark_removed(self, id_or_name: str) -> None:
        """Mark the records with this id or name removed."""
        with self._lock:
            for rec in self._records:
                if id_or_name in (rec.box_id, rec.name):
                    rec.removed = True

    @property
    def current(self) -> str | None:
        """The test whose scope is open (names a driver crash), or None between tests."""
        with self._lock:
            return self._current

    def begin(self, test: str) -> None:
        """Open `test`'s scope: boxes recorded from now on belong to it."""
        with self._lock:
            self._current = test

    def end(self) -> list[BoxRecord]:
        """Close the current test's scope; returns the boxes created within it."""
        with self._lock:
            test, self._current = self._current, None
            return [r for r in self._records if r.test == test and test is not None]

    @property
    def records(self) -> list[BoxRecord]:
        """A copy of every record, taken under the lock."""
        with self._lock:
            return list(self._records)

    def outstanding(self) -> list[BoxRecord]:
        """Records not yet marked removed."""
        with self._lock:
            return [r for r in self._records if not r.removed]


def bound_lifetime(options: Any) -> Any:
    """Give SDK `BoxOptions` a finite lifetime when the caller chose none (mutates, returns)."""
    if (
        getattr(options, "auto_stop", None) is None
        and getattr(options, "auto_delete", None) is None
    ):
        options.auto_stop = AUTO_STOP_S
        options.auto_delete = AUTO_DELETE_S
    return options


# --------------------------------------------------------------------------- wrappers


class TrackedBox:
    """An SDK `Box` whose clones are recorded; everything else passes through."""

    def __init__(self, box: Any, ledger: BoxLedger):
        object.__setattr__(self, "_box", box)
        object.__setattr__(self, "_ledger", ledger)

    @property
    def __class__(self):  # isinstance(box, boxlite.Box) stays true
        return type(self._box)

    @property
    def native(self) -> Any:
        """The wrapped SDK box, for calls that need the real object."""
        return self._box

    def __getattr__(self, name: str) -> Any:
        return getattr(self._box, name)

    def __repr__(self) -> str:
        return f"TrackedBox({self._box!r})"

    async def clone_box(self, *, options: Any = None, name: str | None = None) -> TrackedBox:
        """Clone under a ledger name and record the clone (route `clone`)."""
        name = name or self._ledger.new_name()
        clone = await self._box.clone_box(options=options, name=name)
        self._ledger.record(clone.id, name=name, route="clone")
        return TrackedBox(clone, self._ledger)

    async def __aenter__(self) -> TrackedBox:
        await self._box.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._box.__aexit__(*exc)


class TrackedRuntime:
    """A REST `Boxlite` runtime that records, names and bounds every box it creates."""

    def __init__(self, runtime: Any, ledger: BoxLedger):
        object.__setattr__(self, "_rt", runtime)
        object.__setattr__(self, "ledger", ledger)

    @property
    def __class__(self):  # isinstance(rt, boxlite.Boxlite) stays true
        return type(self._rt)

    @property
    def native(self) -> Any:
        """The wrapped SDK runtime; creates through it are not recorded."""
        return self._rt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rt, name)

    def __repr__(self) -> str:
        return f"TrackedRuntime({self._rt!r}, prefix={self.ledger.prefix!r})"

    async def create(self, options: Any = None, name: str | None = None) -> TrackedBox:
        """Create under a ledger name with a bounded lifetime and record it; TypeError without
        options (they carry the image)."""
        if options is None:
            raise TypeError("rt.create needs a boxlite.BoxOptions (the image comes from it)")
        name = name or self.ledger.new_name()
        box = await self._rt.create(bound_lifetime(options), name=name)
        self.ledger.record(box.id, name=name, route="create")
        return TrackedBox(box, self.ledger)

    async def get_or_create(self, options: Any, name: str | None = None):
        """(box, created) with a bounded lifetime; the box is recorded only when this call created
        it."""
        name = name or self.ledger.new_name()
        box, created = await self._rt.get_or_create(bound_lifetime(options), name=name)
        if created:
            self.ledger.record(box.id, name=name, route="get_or_create")
        return TrackedBox(box, self.ledger), created

    async def import_box(self, archive_path: Any, name: str | None = None, **kw: Any):
        """Import an archive under a ledger name and record the box (route `import`)."""
        name = name or self.ledger.new_name()
        box = await self._rt.import_box(archive_path, name=name, **kw)
        self.ledger.record(box.id, name=name, route="import")
        return TrackedBox(box, self.ledger)

    async def get(self, id_or_name: str) -> TrackedBox | None:
        """The box, wrapped, or None when the runtime has none by that id or name."""
        box = await self._rt.get(id_or_name)
        return None if box is None else TrackedBox(box, self.ledger)

    async def remove(self, id_or_name: str, force: bool = False) -> Any:
        """Remove through the SDK, then mark the box removed in the ledger."""
        result = await self._rt.remove(id_or_name, force=force)
        self.ledger.mark_removed(id_or_name)
        return result

    def adopt(self, box_id: str, name: str | None = None) -> BoxRecord:
        """Hand a box created elsewhere to the ledger (BoxLedger.adopt)."""
        return self.ledger.adopt(box_id, name)


def rest_runtime(url: str, api_key: str, prefix: str | None, ledger: BoxLedger) -> TrackedRuntime:
    """A TrackedRuntime over the SDK's REST runtime for this API URL, key and org prefix."""
    options = boxlite.BoxliteRestOptions(
        url=url, credential=boxlite.ApiKeyCredential(api_key), path_prefix=prefix or None
    )
    return TrackedRuntime(_NATIVE_REST(options), ledger)


# --------------------------------------------------------------------------- cleanup


@dataclass(frozen=True)
class RemovalFailure:
    """A box the cleanup could not remove, and the error it got."""

    record: BoxRecord
    error: str


@dataclass(frozen=True)
class Cleanup:
    """What the cleanup after a test found: leaks it removed, boxes already gone, removals that
    failed."""

    removed: tuple[BoxRecord, ...]  # still there, removed by the harness (a leak)
    gone: tuple[BoxRecord, ...]  # already gone (404): removed some other way
    failed: tuple[RemovalFailure, ...]


async def remove_boxes(runtime: Any, records: Iterable[BoxRecord]) -> Cleanup:
    """Force-remove each box; never raises, failures are returned to be reported."""
    native = getattr(runtime, "native", runtime)
    removed, gone, failed = [], [], []
    for rec in records:
        try:
            await asyncio.wait_for(native.remove(rec.box_id, force=True), REMOVE_TIMEOUT_S)
        except boxlite.NotFoundError:
            rec.removed = True
            gone.append(rec)
        except Exception as exc:  # reported by the caller: teardown error + summary
            rec.removal_failed = True
            failed.append(RemovalFailure(rec, f"{type(exc).__name__}: {exc}"))
        else:
            rec.removed = True
            removed.append(rec)
    return Cleanup(tuple(removed), tuple(gone), tuple(failed))


# --------------------------------------------------------------------------- local runtime

LOCAL_RUNTIME_MESSAGE = (
    "{what} is the local, in-process (FFI) BoxLite runtime: it never goes through the REST "
    "API or the runner, which is the path these e2e cases exist to test. Use the `rt` "
    "fixture (Boxlite.rest), or pass runtime=rt to SimpleBox/CodeBox/..."
)


class LocalRuntimeForbidden(HarnessError):
    """A case tried to use the local FFI runtime."""


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise LocalRuntimeForbidden(LOCAL_RUNTIME_MESSAGE.format(what=what))

    return refuse


class _GuardMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise LocalRuntimeForbidden(LOCAL_RUNTIME_MESSAGE.format(what="boxlite.Boxlite(...)"))

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, NATIVE_BOXLITE)

    def __getattr__(cls, name: str) -> Any:
        return getattr(NATIVE_BOXLITE, name)


def forbid_local_runtime(
    monkeypatch: Any, ledger: BoxLedger, modules: Iterable[ModuleType] = ()
) -> None:
    """Patch every local-runtime entry point to raise (undone by `monkeypatch`)."""

    def tracked_rest(options: Any) -> TrackedRuntime:
        return TrackedRuntime(_NATIVE_REST(options), ledger)

    guard = _GuardMeta(
        "Boxlite",
        (),
        {
            "default": staticmethod(_refuse("boxlite.Boxlite.default()")),
            "init_default": staticmethod(_refuse("boxlite.Boxlite.init_default()")),
            "rest": staticmethod(tracked_rest),
            "__doc__": "boxlite.Boxlite inside e2e cases: REST only (see lib.harness.runtime).",
        },
    )
    # Names resolved at call time (SimpleBox, SyncBoxlite import `from .boxlite` lazily).
    monkeypatch.setattr(boxlite, "Boxlite", guard)
    monkeypatch.setattr(_native_module, "Boxlite", guard)
    # Names bound at import time (`from boxlite import Boxlite` in a case module).
    monkeypatch.setattr(NATIVE_BOXLITE, "default", guard.__dict__["default"])
    monkeypatch.setattr(NATIVE_BOXLITE, "init_default", guard.__dict__["init_default"])
    monkeypatch.setattr(NATIVE_BOXLITE, "rest", guard.__dict__["rest"])
    for module in modules:
        for attr, value in list(vars(module).items()):
            if value is NATIVE_BOXLITE:
                monkeypatch.setattr(module, attr, guard)
