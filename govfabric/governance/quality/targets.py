"""Where a rule's SQL runs: the asset's own database, or govfabric's DuckDB with sources attached.

PostgreSQL assets (and references within the same database) run on PostgreSQL through
SQLAlchemy/psycopg. Everything else — SQLite and DuckDB files, files, MySQL, and
references across sources — runs on an in-memory DuckDB set up exactly as the virtual
SQL engine does it (read-only ATTACH, file views, external access off, configuration
locked), reached through duckdb-engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from govfabric.catalog.models import Asset, Source
from govfabric.errors import SourceError

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


@dataclass
class Target:
    """An SQLAlchemy engine plus how to name each asset's table on it."""

    engine: Any
    dialect: str  # sqlglot dialect
    kind: str  # "duckdb" | "postgresql"
    tables: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # asset id -> (schema, table)

    def table(self, asset_id: str) -> exp.Table:
        schema, name = self.tables[asset_id]
        return exp.table_(exp.to_identifier(name, quoted=True),
                          db=exp.to_identifier(schema, quoted=True) if schema else None)

    def close(self) -> None:
        self.engine.dispose()


def open_target(fabric: Fabric, main: tuple[Source, Asset], refs: list[tuple[Source, Asset]]) -> Target:
    src, asset = main
    if src.kind == "postgresql" and all(r[0].id == src.id for r in refs):
        return _postgres(fabric, src, [main, *refs])
    return _duckdb(fabric, [main, *refs])


def _postgres(fabric: Fabric, src: Source, pairs: list[tuple[Source, Asset]]) -> Target:
    import sqlalchemy as sa

    dsn, _ = fabric.catalog.connection_uri(src)
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url, pool_pre_ping=True,
                              connect_args={"options": "-c default_transaction_read_only=on"})
    try:
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
    except Exception as exc:
        from govfabric.catalog.sources import friendly_connect_error

        engine.dispose()
        raise friendly_connect_error(src.kind, src.uri, exc, fabric.catalog.connection_uri(src)[1]) from None
    tables = {a.id: ((a.location or {}).get("schema", "public"), (a.location or {}).get("table", a.name))
              for _, a in pairs}
    return Target(engine, "postgres", "postgresql", tables)


def _duckdb(fabric: Fabric, pairs: list[tuple[Source, Asset]]) -> Target:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.pool import StaticPool

    from govfabric.virtualization.engines.base import Binding
    from govfabric.virtualization.engines.duckdb import DuckDBEngine

    try:
        import duckdb_engine  # noqa: F401
    except ImportError:
        raise SourceError("quality runs on DuckDB need the duckdb-engine package; "
                          "pip install duckdb-engine") from None
    settings = fabric.settings
    settings.extensions_dir.mkdir(parents=True, exist_ok=True)
    bindings = [Binding(s, a) for s, a in pairs]
    helper = DuckDBEngine(fabric)
    tables = {a.id: ("main", f"gf_asset_{i}") for i, (_, a) in enumerate(pairs)}
    engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool, connect_args={"config": {
        "extension_directory": str(settings.extensions_dir), "autoinstall_known_extensions": False,
        "autoload_known_extensions": False, "memory_limit": settings.duckdb_memory_limit,
        "threads": settings.duckdb_threads}})

    @event.listens_for(engine, "connect")
    def _setup(dbapi_con: Any, _record: Any) -> None:
        helper._setup(dbapi_con, bindings)
        for b in bindings:
            cat, schema, table = helper.physical_ref(b)  # type: ignore[misc]
            ref = exp.table_(exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True),
                             catalog=exp.to_identifier(cat, quoted=True)).sql("duckdb")
            view = exp.to_identifier(tables[b.asset.id][1], quoted=True).sql("duckdb")
            dbapi_con.execute(f"CREATE OR REPLACE VIEW main.{view} AS SELECT * FROM {ref}")  # noqa: S608 (quoted)

    try:
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
    except Exception as exc:
        engine.dispose()
        if isinstance(exc, SourceError):
            raise
        orig = getattr(exc, "orig", None) or exc
        if isinstance(orig, SourceError):
            raise orig from None
        raise SourceError(f"cannot open {', '.join(a.qualified_name for _, a in pairs)} for a quality run: "
                          f"{orig}; check that the source is reachable (`govfabric source test`)") from None
    return Target(engine, "duckdb", "duckdb", tables)
