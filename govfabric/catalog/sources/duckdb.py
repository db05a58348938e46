"""DuckDB database files: read and attached by DuckDB itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from govfabric.catalog.sources.base import fetch_rows, select_all
from govfabric.catalog.sources.local import LocalDatabaseKind

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog, HarvestProgress


class DuckDB(LocalDatabaseKind):
    NAME: ClassVar[str] = "duckdb"
    SCHEMES: ClassVar[tuple[str, ...]] = ("duckdb",)
    SUFFIXES: ClassVar[tuple[str, ...]] = (".duckdb", ".ddb")
    DUCKDB_TYPE: ClassVar[str] = "duckdb"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        return head[8:12] == b"DUCK"  # DuckDB's main header: 8 bytes checksum, then the magic

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        from govfabric.catalog.harvest.sql import harvest_duckdb

        catalog.fabric.release_engines()  # DuckDB refuses a second handle on a file the engine attached
        return harvest_duckdb(cls.path(src))

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        import duckdb

        catalog.fabric.release_engines()
        return fetch_rows(duckdb.connect(str(cls.path(src)), read_only=True), select_all(a))
