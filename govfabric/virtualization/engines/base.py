"""The engine seam: every query engine behind one interface.

An engine declares what it can do as class constants; calling code never branches
on an engine's name. Adding an engine touches its module, one registry line
(``engines/__init__.py``), its settings, and one test-suite entry.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from govfabric.errors import QueryRejected

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


def run_with_timeout(interrupt: Any, timeout_s: float) -> threading.Timer:
    """A started timer that interrupts a running statement after ``timeout_s``."""
    timer = threading.Timer(timeout_s, interrupt)
    timer.daemon = True
    timer.start()
    return timer
