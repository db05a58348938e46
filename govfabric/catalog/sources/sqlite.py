"""SQLite database files: read with the standard library, attached by DuckDB's sqlite extension."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from govfabric.catalog.sources.base import fetch_rows, select_all
from govfabric.catalog.sources.local import LocalDatabaseKind

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog, HarvestProgress

MAGIC = b"SQLite format 3\x00"


class SQLite(LocalDatabaseKind):
    NAME: ClassVar[str] = "sqlite"
    SCHEMES: ClassVar[tuple[str, ...]] = ("sqlite",)
    SUFFIXES: ClassVar[tuple[str, ...]] = (".sqlite", ".sqlite3", ".db")
    DUCKDB_EXTENSION: ClassVar[str | None] = "sqlite_scanner"
    DUCKDB_TYPE: ClassVar[str] = "sqlite"
    #: DuckDB 1.5's common-subplan elimination takes two scans of one SQLite file for the same scan
    #: (the scanner's bind data compares the file, not the table): ``SELECT max(v) FROM a UNION ALL
    #: SELECT max(v) FROM b`` answered a's maximum twice. PostgreSQL and MySQL scans are not affected.
    DUCKDB_DISABLED_OPTIMIZERS: ClassVar[tuple[str, ...]] = ("common_subplan",)

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        return head.startswith(MAGIC)

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        from govfabric.catalog.harvest.sql import harvest_sqlite

        return harvest_sqlite(cls.path(src))

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        return fetch_rows(sqlite3.connect(f"{cls.path(src).as_uri()}?mode=ro", uri=True), select_all(a))
