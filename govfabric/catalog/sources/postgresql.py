"""PostgreSQL sources: read with psycopg, attached by DuckDB's postgres extension, Trino's postgresql connector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

from govfabric.catalog.sources.base import BATCH, ConnParams, select_all, split_query
from govfabric.catalog.sources.server import ServerKind

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog

#: libpq options a PostgreSQL source URI may carry into DuckDB's ATTACH (never a password)
PG_OPTIONS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
                        "options", "target_session_attrs", "gssencmode", "channel_binding"})


def _conninfo_value(value: str) -> str:
    """A libpq conninfo value, quoted: a space or ``=`` cannot start another option."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: How a PostgreSQL catalog in Trino reads the types Trino's connector skips by default (Trino 476,
#: connector/postgresql "Type mapping"): ``numeric`` without precision as ``decimal(38, 6)``
#: (rounded half up; larger values are an error, never wrong), arrays as arrays, and other types
#: without a Trino mapping (interval, inet, …) as varchar. Part of the catalog name's fingerprint,
#: so changing them creates new catalogs instead of reusing ones made before.
TRINO_TYPE_PROPERTIES = {
    "decimal-mapping": "ALLOW_OVERFLOW",
    "decimal-default-scale": "6",
    "decimal-rounding-mode": "HALF_UP",
    "postgresql.array-mapping": "AS_ARRAY",
    "unsupported-type-handling": "CONVERT_TO_VARCHAR",
}


class PostgreSQL(ServerKind):
    NAME: ClassVar[str] = "postgresql"
    SCHEMES: ClassVar[tuple[str, ...]] = ("postgres", "postgresql", "postgresql+psycopg")
    DEFAULT_PORT: ClassVar[int] = 5432
    DEFAULT_SCHEMA: ClassVar[str] = "public"
    DUCKDB_EXTENSION: ClassVar[str | None] = "postgres_scanner"
    DUCKDB_TYPE: ClassVar[str] = "postgres"
    TRINO_CONNECTOR: ClassVar[str | None] = "postgresql"
    RUNS_QUALITY_IN_PLACE: ClassVar[bool] = True
    TITLE: ClassVar[str | None] = "PostgreSQL"
    SQL_DIALECT: ClassVar[str | None] = "postgres"
    LINEAGE_SCHEME: ClassVar[str] = "postgres"

    @classmethod
    def harvest_with(cls, catalog: Catalog, src: Source) -> list[TableMeta]:
        from govfabric.catalog.harvest.sql import harvest_postgresql

        return harvest_postgresql(catalog.connection_uri(src)[0])

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        import psycopg

        dsn, _ = catalog.connection_uri(src)
        with psycopg.connect(dsn) as con, con.cursor(name="govfabric_sign") as cur:
            cur.execute(select_all(a))
            while rows := cur.fetchmany(BATCH):
                yield from rows

    @classmethod
    def sqlalchemy_url(cls, catalog: Catalog, src: Source) -> Any:
        """The source as a SQLAlchemy URL on psycopg 3 (password restored; never log it)."""
        from sqlalchemy.engine import make_url

        dsn, _ = catalog.connection_uri(src)
        return make_url(dsn).set(drivername="postgresql+psycopg")

    @classmethod
    def attach_path(cls, params: ConnParams) -> str:
        return " ".join(f"{k}={_conninfo_value(v)}" for k, v in sorted(params.options.items()) if k in PG_OPTIONS)

    @classmethod
    def trino_properties(cls, src: Source) -> dict[str, str]:
        p = urlsplit(src.uri)
        host = p.hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        url = f"jdbc:postgresql://{host}:{p.port or cls.DEFAULT_PORT}/{p.path.strip('/')}"
        query = split_query(p.query)[0]  # a source registered before passwords were cut from queries
        if query:
            url += f"?{query}"
        props = {"connection-url": url, "connection-user": unquote(p.username or ""),
                 "case-insensitive-name-matching": "true"}
        props.update(cls.trino_extra_properties(src))
        return props

    @classmethod
    def trino_extra_properties(cls, src: Source) -> dict[str, str]:
        """PostgreSQL's connector settings beyond the connection: the type mapping."""
        return dict(TRINO_TYPE_PROPERTIES)

    @classmethod
    def lineage_name(cls, src: Source, a: Asset) -> str:
        loc = a.location or {}
        db = urlsplit(src.uri).path.strip("/")
        return ".".join(p for p in (db, loc.get("schema"), loc.get("table", a.name)) if p)
