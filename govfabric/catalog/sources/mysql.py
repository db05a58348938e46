"""MySQL / MariaDB sources: read with PyMySQL, attached by DuckDB's mysql extension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from govfabric.catalog.sources.base import BATCH, select_all
from govfabric.catalog.sources.server import ServerKind

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog


def _backtick(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MySQL(ServerKind):
    NAME: ClassVar[str] = "mysql"
    SCHEMES: ClassVar[tuple[str, ...]] = ("mysql", "mariadb", "mysql+pymysql")
    DEFAULT_PORT: ClassVar[int] = 3306
    DUCKDB_EXTENSION: ClassVar[str | None] = "mysql_scanner"
    DUCKDB_TYPE: ClassVar[str] = "mysql"
    LINEAGE_SCHEME: ClassVar[str] = "mysql"

    @classmethod
    def harvest_dsn(cls, dsn: str) -> list[TableMeta]:
        from govfabric.catalog.harvest.sql import harvest_mysql

        return harvest_mysql(dsn)

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        import pymysql

        p = cls.params(catalog, src)
        con = pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password or "",
                              database=p.database, cursorclass=pymysql.cursors.SSCursor)
        try:
            with con.cursor() as cur:
                cur.execute(select_all(a, _backtick))
                while rows := cur.fetchmany(BATCH):
                    yield from rows
        finally:
            con.close()
