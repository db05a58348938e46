"""The engine seam: every query engine behind one interface.

An engine declares what it can do as class constants; calling code never branches
on an engine's name. Adding an engine touches its module, one registry line
(``engines/__init__.py``), its settings, and one test-suite entry.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from govfabric.errors import QueryRejected

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from govfabric.auth.secrets import SecretBox
    from govfabric.catalog.models import Asset, Source
    from govfabric.config import Settings
    from govfabric.fabric import Fabric


@dataclass(frozen=True)
class Binding:
    """A catalog asset a virtual table reads, with the source it lives in."""

    source: Source
    asset: Asset


@dataclass(frozen=True)
class SourceConnector:
    """How an engine reaches sources (the connection factory): a source's password, a DuckDB
    ATTACH by the source's kind, keys derived for the engine. Engines get this and their settings,
    never the whole :class:`Fabric`."""

    secrets: SecretBox

    def password(self, source: Source) -> str | None:
        """The source's password, opened from its stored reference; only when connecting."""
        from govfabric.auth.secrets import open_secret

        return open_secret(source.secret, self.secrets)

    def attach_duckdb(self, con: Any, alias: str, source: Source) -> None:
        """ATTACH a database source to a DuckDB connection, read-only, as its kind does it."""
        from govfabric.catalog.sources import kind_of

        kind_of(source).duckdb_attach(con, alias, source, self.secrets)

    def derive(self, purpose: str) -> bytes:
        """A workspace-held key for ``purpose`` (HKDF; never the workspace key itself)."""
        return bytes(self.secrets.derive(purpose))


@dataclass
class SqlAccess:
    """An SQLAlchemy engine over bound assets, for a tool that speaks SQLAlchemy (great-expectations),
    set up as the engine sets up its own connection; ``tables`` names each asset's table on it."""

    engine: Any
    tables: dict[str, exp.Table]

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class EngineStats:
    queries: int = 0
    errors: int = 0
    total_ms: float = 0.0
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)


class Engine(ABC):
    NAME: ClassVar[str]
    DIALECT: ClassVar[str]
    #: source kinds this engine can read (e.g. files only where it has a reader)
    SOURCE_KINDS: ClassVar[frozenset[str]]
    #: whether one query may join data of different sources
    SUPPORTS_FEDERATION: ClassVar[bool] = True
    #: runs inside this process (DuckDB); a server engine (Trino) is preferred when it is the default
    EMBEDDED: ClassVar[bool] = False
    #: the pipeline engine whose plan this engine runs after :meth:`retarget` (None: its own name)
    PLANS_AS: ClassVar[str | None] = None

    def __init__(self, settings: Settings, connector: SourceConnector) -> None:
        self.settings = settings
        self.connector = connector
        self.stats = EngineStats()
        self._lock = threading.Lock()

    @classmethod
    @abstractmethod
    def physical_ref(cls, binding: Binding) -> tuple[str, str, str] | None:
        """Where this engine finds the asset: ``(catalog, schema, table)``, or None if it cannot."""

    @classmethod
    def for_fabric(cls, fabric: Fabric) -> Engine:
        """The engine with the workspace's settings and a connector over its secrets."""
        return cls(fabric.settings, SourceConnector(fabric.secrets))

    @classmethod
    def can_read(cls, source: Source) -> bool:
        """Whether this engine reads the source's kind."""
        return source.kind in cls.SOURCE_KINDS

    @classmethod
    def configured(cls, settings: Any) -> bool:
        """Whether the workspace's settings let this engine run (a server engine needs its URL)."""
        return True

    @abstractmethod
    def sqlalchemy(self, bindings: list[Binding], *, timeout_s: float, application: str) -> SqlAccess:
        """The bound assets through SQLAlchemy, read-only, each statement limited to ``timeout_s``;
        a source that cannot be reached is named now (a :class:`SourceError`), not at the first query."""

    @abstractmethod
    def prepare(self, bindings: list[Binding]) -> None:
        """Make every bound asset reachable (attach sources, create catalogs). Idempotent."""

    @abstractmethod
    def _batches(self, sql: str, timeout_s: float, params: Sequence[Any] = ()) -> Iterator[pa.RecordBatch]:
        """Run generated SQL, its placeholders bound to ``params`` (typed, never spliced into the text),
        and yield Arrow batches."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Reachability and configuration of this engine, for ``engine status``."""

    def retarget(self, planned: Any, bindings: list[Binding]) -> Any:
        """The plan (built for :attr:`PLANS_AS`, trees kept) as this engine runs it; engines that
        plan for themselves return it unchanged."""
        return planned

    def close(self) -> None:  # noqa: B027 (optional)
        pass

    def stream(self, sql: str, *, timeout_s: float, row_limit: int, params: Sequence[Any] = ()
               ) -> Iterator[pa.RecordBatch]:
        """Batches of the result; refuses (rather than truncates) results over the row limit."""
        rows = 0
        for batch in self._batches(sql, timeout_s, params):
            rows += batch.num_rows
            if rows > row_limit:
                raise QueryRejected(f"the result has more than {row_limit:,} rows (the row limit); "
                                    "aggregate, filter or add LIMIT")
            yield batch


def run_with_timeout(interrupt: Any, timeout_s: float) -> Deadline:
    """A deadline that interrupts a running statement after ``timeout_s``, unless cancelled first."""
    return _WATCHDOG.add(interrupt, timeout_s)


class Deadline:
    """One statement's deadline; :meth:`cancel` when the statement has ended."""

    __slots__ = ("at", "cancelled", "interrupt")

    def __init__(self, interrupt: Callable[[], Any], at: float) -> None:
        self.interrupt, self.at, self.cancelled = interrupt, at, False

    def __lt__(self, other: Deadline) -> bool:
        return self.at < other.at

    def cancel(self) -> None:
        self.cancelled = True  # the watchdog drops it when it comes up (or at its next compaction)


class _Watchdog:
    """One thread per process holding every running statement's deadline. A ``threading.Timer``
    per query (a thread started and stopped each time) cost ~0.1 ms of every query, more on a busy
    machine. Adding a deadline later than the earliest wakes nobody; cancelled ones are dropped
    when they come up, or in bulk once many have piled up. An interrupt runs in a thread of its
    own (Trino's cancel is an HTTP call): a slow one never delays another's."""

    COMPACT_AT = 4096

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[Deadline] = []
        self._thread: threading.Thread | None = None

    def add(self, interrupt: Callable[[], Any], timeout_s: float) -> Deadline:
        d = Deadline(interrupt, time.monotonic() + timeout_s)
        with self._cv:
            if self._thread is None or not self._thread.is_alive():  # first use (or after a fork)
                self._thread = threading.Thread(target=self._run, name="govfabric-query-deadlines", daemon=True)
                self._thread.start()
            if len(self._heap) >= self.COMPACT_AT:
                self._heap = [x for x in self._heap if not x.cancelled]
                heapq.heapify(self._heap)
            earliest = self._heap[0].at if self._heap else math.inf
            heapq.heappush(self._heap, d)
            if d.at < earliest:
                self._cv.notify()
        return d

    def _run(self) -> None:
        with self._cv:
            while True:
                heap = self._heap
                while heap and heap[0].cancelled:
                    heapq.heappop(heap)
                if not heap:
                    self._cv.wait()
                    continue
                wait = heap[0].at - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                due = heapq.heappop(heap)
                threading.Thread(target=_fire, args=(due,), name="govfabric-query-interrupt", daemon=True).start()


def _fire(due: Deadline) -> None:
    if not due.cancelled:
        try:
            due.interrupt()
        except Exception:  # the statement ended meanwhile (its cursor closed): nothing to stop
            log.debug("interrupting a statement past its deadline failed", exc_info=True)


_WATCHDOG = _Watchdog()
