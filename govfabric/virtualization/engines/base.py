"""The engine seam: every query engine behind one interface.

An engine declares what it can do as class constants; calling code never branches
on an engine's name. Adding an engine touches its module, one registry line
(``engines/__init__.py``), its settings, and one test-suite entry.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from govfabric.errors import QueryRejected

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset, Source
    from govfabric.fabric import Fabric


@dataclass(frozen=True)
class Binding:
    """A catalog asset a virtual table reads, with the source it lives in."""

    source: Source
    asset: Asset


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

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.stats = EngineStats()
        self._lock = threading.Lock()

    @classmethod
    @abstractmethod
    def physical_ref(cls, binding: Binding) -> tuple[str, str, str] | None:
        """Where this engine finds the asset: ``(catalog, schema, table)``, or None if it cannot."""

    @abstractmethod
    def prepare(self, bindings: list[Binding]) -> None:
        """Make every bound asset reachable (attach sources, create catalogs). Idempotent."""

    @abstractmethod
    def _batches(self, sql: str, timeout_s: float) -> Iterator[pa.RecordBatch]:
        """Run generated SQL and yield Arrow batches."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Reachability and configuration of this engine, for ``engine status``."""

    def close(self) -> None:  # noqa: B027 (optional)
        pass

    def stream(self, sql: str, *, timeout_s: float, row_limit: int) -> Iterator[pa.RecordBatch]:
        """Batches of the result; refuses (rather than truncates) results over the row limit."""
        rows = 0
        for batch in self._batches(sql, timeout_s):
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
