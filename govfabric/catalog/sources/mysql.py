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
    TRINO_CONNECTOR: ClassVar[str | None] = "mysql"
    LINEAGE_SCHEME: ClassVar[str] = "mysql"

    @classmethod
    def trino_properties(cls, src: Source) -> dict[str, str]:
        """Trino's MySQL connector refuses a database in the URL: each MySQL database is a schema."""
        url = cls.url(src.uri)
        host = url.host or "localhost"
        host = f"[{host}]" if ":" in host else host
        return {"connection-url": f"jdbc:mysql://{host}:{url.port or cls.DEFAULT_PORT}/",
                "connection-user": url.username or "", "case-insensitive-name-matching": "true"}

    @classmethod
    def harvest_with(cls, catalog: Catalog, src: Source) -> list[TableMeta]:
        """Harvest with the parsed connection (``ConnParams``): no URL is joined or split again."""
        from govfabric.catalog.harvest.sql import harvest_mysql

        return harvest_mysql(cls.params(catalog, src))

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        import pymysql

        p = cls.params(catalog, src)
        con = pymysql.connect(host=p.host, port=p.port, user=p.user, password=(p.password or "").encode(),
                              database=p.database, cursorclass=pymysql.cursors.SSCursor)
        try:
            with con.cursor() as cur:
                cur.execute(select_all(a, _backtick))
                while rows := cur.fetchmany(BATCH):
                    yield from rows
        finally:
            con.close()
