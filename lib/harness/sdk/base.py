"""The neutral client interface every SDK on the axis implements, and its typed errors.

A case on the SDK axis states a contract once and runs it through each SDK, so it cannot
use `boxlite.StoppedError` (Python only) or a Node `Error` with a message. Instead every SDK
error becomes a `ClientError` whose `kind` is the canonical wire `code`'s family
(the REST error envelope's `code`: `stopped`, `not_found`, `image_pull_failed`, ...). Two ways
to learn the kind, one per binding style:

- the Python SDK raises one class per code (`python_client.kind_of_exception`);
- the Node SDK (0.10.0) raises a plain `Error` whose message is the client core's Display
  text, `"<prefix>: <server message>"`; the prefixes are the core's, shared by every binding
  that stringifies the core error (`kind_of_message`). An unknown prefix is kind `unknown`,
  which no contract accepts, so a binding that changes its text fails loudly, never passes.

`internal` is what the core reports for a 5xx or an unmapped status: "a typed error, never a
500" means any kind but `internal` and `unknown`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from lib.errors import HarnessError
from lib.harness.case_helpers import DRAIN_TIMEOUT_S, Output

# The client core's Display prefixes -> kind. Longest first where one is a prefix of another.
MESSAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("configuration error: auth:", "auth"),
    ("configuration error:", "config"),
    ("invalid argument:", "invalid_argument"),
    ("unsupported:", "unsupported"),
    ("box not found:", "not_found"),
    ("not found:", "not_found"),
    ("session reaped:", "session_reaped"),
    ("already exists:", "already_exists"),
    ("invalid state:", "invalid_state"),
    ("stopped:", "stopped"),
    ("images error:", "image"),
    ("execution error:", "execution"),
    ("resource exhausted:", "resource_exhausted"),
    ("network error:", "network"),
    ("portal error:", "upstream_unavailable"),
    ("engine reported an error:", "engine"),
    ("storage error:", "storage"),
    ("database error:", "database"),
    ("metadata error:", "metadata"),
    ("internal error:", "internal"),
)
UNTYPED = frozenset({"internal", "unknown"})


def kind_of_message(message: str) -> str:
    """The kind a core error's Display text names (case-insensitive prefix), else `unknown`."""
    text = message.strip().lower()
    for prefix, kind in MESSAGE_PREFIXES:
        if text.startswith(prefix):
            return kind
    return "unknown"


class ClientError(HarnessError):
    """An SDK call failed with an SDK error; `kind` is its neutral family (the SDK's own
    exception or error object is `detail`)."""

    def __init__(self, sdk: str, kind: str, message: str, *, detail: Any = None):
        super().__init__(f"[{sdk}] {kind}: {message}")
        self.sdk = sdk
        self.kind = kind
        self.message = message
        self.detail = detail  # the Python exception, or the driver's error object

    @property
    def typed(self) -> bool:
        """True unless the kind is `internal` or `unknown` (a 5xx or an unmapped status)."""
        return self.kind not in UNTYPED


def assert_kind(exc: BaseException, *kinds: str) -> ClientError:
    """`exc` is a typed `ClientError` (not internal/unknown), of one of `kinds` if given."""
    assert isinstance(exc, ClientError), f"not an SDK error: {type(exc).__name__}: {exc}"
    assert exc.typed, f"untyped error (a 5xx or unmapped status on the wire): {exc}"
    text = exc.message.lower()
    assert "http 500" not in text and "internal server error" not in text, str(exc)
    if kinds:
        assert exc.kind in kinds, f"expected kind {sorted(kinds)}, got {exc}"
    return exc


class ClientExec(ABC):
    """One execution, as a client sees it."""

    id: str

    @abstractmethod
    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> Output:
        """stdout and stderr read concurrently to their end, then the result; bounded."""

    @abstractmethod
    async def write_stdin(self, data: str) -> None:
        """Send `data` to the command's stdin."""

    @abstractmethod
    async def close_stdin(self) -> None:
        """Close the command's stdin (the command sees EOF)."""

    @abstractmethod
    async def kill(self) -> None:
        """Kill the command."""


class ClientBox(ABC):
    """One box, as a client sees it: the id and name the API gave it."""

    id: str
    name: str | None

    @abstractmethod
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

    @abstractmethod
    async def attach(self, execution_id: str) -> ClientExec:
        """Re-attach to an execution (needs the SDK capability `attach`)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the box; its executions end."""

    @abstractmethod
    async def start(self) -> None:
        """Start the stopped box again."""

    # `timeout` is the exec option (the server's deadline); `drain_timeout` bounds the read.
    async def run(
        self, command: str, *args: str, drain_timeout: float = DRAIN_TIMEOUT_S, **kw: Any
    ) -> Output:
        """`exec` and `drain` in one call."""
        return await (await self.exec(command, args, **kw)).drain(drain_timeout)

    async def sh(self, script: str, *, drain_timeout: float = DRAIN_TIMEOUT_S, **kw: Any) -> Output:
        """Run a POSIX `sh -c script` and drain it."""
        return await self.run("sh", "-c", script, drain_timeout=drain_timeout, **kw)


class Client(ABC):
    """A REST runtime of one SDK, bound to the stack's URL, key and prefix.

    Every box it creates is named by the harness's ledger and given a bounded lifetime, so
    the path check sees it and the teardown removes it, whichever SDK made it.
    """

    sdk: str
    version: str
    capabilities: frozenset[str] = frozenset()

    @abstractmethod
    async def create(self, image: str, *, name: str | None = None, **options: Any) -> ClientBox:
        """A new box of `image`, named by the ledger (or `name`), its lifetime bounded."""

    @abstractmethod
    async def get(self, id_or_name: str) -> ClientBox | None:
        """The box with this id or name, or None."""

    @abstractmethod
    async def remove(self, id_or_name: str, *, force: bool = False) -> None:
        """Remove a box (`force`: even a running one)."""

    @abstractmethod
    async def list_ids(self) -> list[str]:
        """The ids of every box this credential sees."""

    @abstractmethod
    async def with_key(self, api_key: str) -> Client:
        """Another runtime of this SDK on the same stack with another credential."""

    @abstractmethod
    async def close(self) -> None:
        """Release this client's runtime."""
