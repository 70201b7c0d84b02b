"""The neutral client interface over the Python SDK: the harness's own tracked `rt`.

Boxes go through `TrackedRuntime.create`, so they are named, bounded and recorded exactly
as for the Python-only cases. SDK exceptions become `ClientError`s by class (one class per
wire `code` of the error envelope); a `ConfigError` for a 401/403 carries `auth:`
in its text and is kind `auth`, any other `ConfigError` kind `config`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import metadata
from typing import Any, TypeVar

import boxlite

from lib.harness.case_helpers import DRAIN_TIMEOUT_S, Output, drain
from lib.harness.runtime import BoxLedger, TrackedRuntime, rest_runtime
from lib.harness.sdk.base import Client, ClientBox, ClientError, ClientExec

SDK = "python"
T = TypeVar("T")

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (boxlite.InvalidArgumentError, "invalid_argument"),
    (boxlite.UnsupportedError, "unsupported"),
    (boxlite.NotFoundError, "not_found"),
    (boxlite.SessionReapedError, "session_reaped"),
    (boxlite.AlreadyExistsError, "already_exists"),
    (boxlite.InvalidStateError, "invalid_state"),
    (boxlite.StoppedError, "stopped"),
    (boxlite.ImageError, "image"),
    (boxlite.ExecutionError, "execution"),
    (boxlite.ResourceExhaustedError, "resource_exhausted"),
    (boxlite.NetworkError, "network"),
    (boxlite.UpstreamUnavailableError, "upstream_unavailable"),
    (boxlite.EngineError, "engine"),
    (boxlite.StorageError, "storage"),
    (boxlite.DatabaseError, "database"),
    (boxlite.MetadataError, "metadata"),
    (boxlite.InternalError, "internal"),
)


def kind_of_exception(exc: BaseException) -> str:
    """The neutral kind of a Python SDK exception (by class; ConfigError by its text)."""
    if isinstance(exc, boxlite.ConfigError):
        return "auth" if "auth:" in str(exc).lower() else "config"
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return "unknown"


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return await make()
    except boxlite.BoxliteError as exc:
        raise ClientError(SDK, kind_of_exception(exc), str(exc), detail=exc) from exc


class PythonExec(ClientExec):
    """An execution of the Python SDK."""

    def __init__(self, execution: Any):
        self._ex = execution
        self.id = execution.id()

    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> Output:
        """Everything the execution delivered and how it ended, within `timeout`."""
        return await _call(lambda: drain(self._ex, timeout))

    async def write_stdin(self, data: str) -> None:
        """Send `data` to the command's stdin."""
        await _call(lambda: self._ex.stdin().send_input(data.encode()))

    async def close_stdin(self) -> None:
        """Close the command's stdin (the command sees EOF)."""
        await _call(lambda: self._ex.stdin().close())

    async def kill(self) -> None:
        """Kill the command."""
        await _call(self._ex.kill)


class PythonBox(ClientBox):
    """A box of the Python SDK (a TrackedBox)."""

    def __init__(self, box: Any):
        self._box = box
        self.id = box.id
        self.name = getattr(box, "name", None)

    async def exec(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        tty: bool = False,
        timeout: float | None = None,
    ) -> ClientExec:
        """Start `command args` in the box with these options; returns once it started."""
        execution = await _call(
            lambda: self._box.exec(
                command,
                list(args),
                env=list(env.items()) if env is not None else None,
                tty=tty,
                timeout_secs=timeout,
                cwd=working_dir,
            )
        )
        return PythonExec(execution)

    async def attach(self, execution_id: str) -> ClientExec:
        """Re-attach to an execution by id."""
        return PythonExec(await _call(lambda: self._box.attach(execution_id=execution_id)))

    async def stop(self) -> None:
        """Stop the box; its executions end."""
        await _call(self._box.stop)

    async def start(self) -> None:
        """Start the stopped box again."""
        await _call(self._box.start)


class PythonClient(Client):
    """The neutral client over the Python SDK's tracked REST runtime."""

    sdk = SDK
    capabilities = frozenset({"attach", "exec_env", "box_lifetimes"})

    def __init__(
        self, runtime: TrackedRuntime, url: str, prefix: str | None, *, owned: bool = False
    ):
        self._rt = runtime
        self._url, self._prefix = url, prefix
        self._owned = owned  # made by with_key: closed by close()
        try:
            self.version = metadata.version("boxlite")
        except metadata.PackageNotFoundError:
            self.version = "unknown"

    async def create(self, image: str, *, name: str | None = None, **options: Any) -> ClientBox:
        """A new box of `image`, named by the ledger (or `name`), its lifetime bounded."""
        env = options.pop("env", None)
        if env is not None:
            options["env"] = list(env.items())
        box = await _call(lambda: self._rt.create(boxlite.BoxOptions(image=image, **options), name))
        return PythonBox(box)

    async def get(self, id_or_name: str) -> ClientBox | None:
        """The box with this id or name, or None."""
        box = await _call(lambda: self._rt.get(id_or_name))
        return None if box is None else PythonBox(box)

    async def remove(self, id_or_name: str, *, force: bool = False) -> None:
        """Remove a box (`force`: even a running one)."""
        await _call(lambda: self._rt.remove(id_or_name, force=force))

    async def list_ids(self) -> list[str]:
        """The ids of every box this credential sees."""
        infos = await _call(self._rt.list_info)
        return [info.id for info in infos]

    async def with_key(self, api_key: str) -> Client:
        """Another runtime of this SDK on the same stack with another credential."""
        ledger: BoxLedger = self._rt.ledger
        runtime = rest_runtime(self._url, api_key, self._prefix, ledger)
        return PythonClient(runtime, self._url, self._prefix, owned=True)

    async def close(self) -> None:
        """Release this client's runtime."""
        if self._owned:
            self._rt.close()
