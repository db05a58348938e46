"""Where a rule's SQL runs: the asset's own database, Trino, or govfabric's DuckDB with sources attached.

``auto`` picks, in order: Trino when it is the workspace's default engine and can read
every source involved; PostgreSQL itself for a PostgreSQL asset (and references within
the same database), through SQLAlchemy/psycopg in a read-only transaction; otherwise an
in-memory DuckDB set up exactly as the virtual SQL engine does it (read-only ATTACH, file
views, external access off, configuration locked), reached through duckdb-engine. On
Trino the catalogs are the ones the virtual SQL engine creates, reached through the
``trino`` client's SQLAlchemy dialect. Every engine runs the same generated SQL
(sqlglot writes each dialect), so a rule gives the same answer wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from sqlglot import exp

from govfabric.catalog.models import Asset, Source
from govfabric.errors import SourceError, ValidationFailed

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


ENGINES = ("auto", "duckdb", "postgresql", "trino")


@dataclass
class Target:
    """An SQLAlchemy engine plus how to name each asset's table on it."""

    engine: Any
    dialect: str  # sqlglot dialect
    kind: str  # "duckdb" | "postgresql" | "trino"
    tables: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # asset id -> (schema, table)
    #: asset id -> catalog, where an asset lives outside the connection's default catalog (Trino)
    catalogs: dict[str, str] = field(default_factory=dict)

    def table(self, asset_id: str) -> exp.Table:
        schema, name = self.tables[asset_id]
        cat = self.catalogs.get(asset_id)
        return exp.table_(exp.to_identifier(name, quoted=True),
                          db=exp.to_identifier(schema, quoted=True) if schema else None,
                          catalog=exp.to_identifier(cat, quoted=True) if cat else None)

    def close(self) -> None:
        self.engine.dispose()


def choose(fabric: Fabric, main: tuple[Source, Asset], refs: list[tuple[Source, Asset]], engine: str) -> str:
    """The engine a run uses: as asked (refused with the reason when it cannot read a source), or ``auto``."""
    if engine not in ENGINES:
        raise ValidationFailed(f"quality engine {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    from govfabric.virtualization.engines.trino import TrinoEngine

    src = main[0]
    sources = {s.name: s for s, _ in [main, *refs]}
    from govfabric.catalog.sources import kind_of

    same_pg = kind_of(src).RUNS_QUALITY_IN_PLACE and all(r[0].id == src.id for r in refs)
    on_trino = all(s.kind in TrinoEngine.SOURCE_KINDS for s in sources.values())
    if engine == "auto":
        if fabric.settings.default_engine == "trino" and fabric.settings.trino_url and on_trino:
            return "trino"
        return "postgresql" if same_pg else "duckdb"
    if engine == "postgresql" and not same_pg:
        raise ValidationFailed(f"{main[1].qualified_name} cannot be checked on PostgreSQL: "
                               + ("its source is not PostgreSQL" if not kind_of(src).RUNS_QUALITY_IN_PLACE else
                                  "a reference rule reads another source") + "; use engine duckdb or auto")
    if engine == "trino" and not on_trino:
        odd = sorted(f"{s.name} ({s.kind})" for s in sources.values() if s.kind not in TrinoEngine.SOURCE_KINDS)
        raise ValidationFailed(f"Trino cannot read {', '.join(odd)}; it reads "
                               f"{', '.join(sorted(TrinoEngine.SOURCE_KINDS))} sources — use engine duckdb or auto")
    return engine


def open_target(fabric: Fabric, main: tuple[Source, Asset], refs: list[tuple[Source, Asset]],
                engine: str = "auto") -> Target:
    kind = choose(fabric, main, refs, engine)
    pairs = [main, *refs]
    if kind == "trino":
        return _trino(fabric, pairs)
    if kind == "postgresql":
        return _postgres(fabric, main[0], pairs)
    return _duckdb(fabric, pairs)


def _postgres(fabric: Fabric, src: Source, pairs: list[tuple[Source, Asset]]) -> Target:
    import sqlalchemy as sa

    from govfabric.catalog.sources import kind_of

    url = kind_of(src).sqlalchemy_url(fabric.catalog, src)  # type: ignore[attr-defined]
    timeout_ms = max(1, round(fabric.settings.quality_timeout_s * 1000))
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={
        "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
        "application_name": "govfabric-quality"})
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


def _trino(fabric: Fabric, pairs: list[tuple[Source, Asset]]) -> Target:
    """The virtual SQL engine's Trino catalogs, through the ``trino`` client's SQLAlchemy dialect."""
    import sqlalchemy as sa

    from govfabric.virtualization.engines.base import Binding
    from govfabric.virtualization.engines.trino import TrinoEngine

    settings = fabric.settings
    trino = fabric.queries.engine("trino")
    assert isinstance(trino, TrinoEngine)
    bindings = [Binding(s, a) for s, a in pairs]
    trino.prepare(bindings)  # creates (or re-creates) the sources' catalogs; clear errors if unreachable
    refs = {b.asset.id: trino.physical_ref(b) for b in bindings}
    main_cat = refs[pairs[0][1].id][0]  # type: ignore[index]
    p = urlsplit(trino.url)
    timeout = f"{max(1, round(settings.quality_timeout_s))}s"
    engine = sa.create_engine(
        f"trino://{quote(settings.trino_user, safe='')}@{p.hostname}:{p.port or 8080}/{quote(main_cat, safe='')}",
        connect_args={"http_scheme": p.scheme, "source": "govfabric-quality",
                      "session_properties": {"query_max_run_time": timeout}})
    target = Target(engine, "trino", "trino", {aid: (r[1], r[2]) for aid, r in refs.items() if r},
                    {aid: r[0] for aid, r in refs.items() if r and r[0] != main_cat})
    try:  # a catalog is created without connecting: probe each table so a dead source is named now
        with engine.connect() as c:
            for b in bindings:
                c.exec_driver_sql(f"SELECT 1 FROM {target.table(b.asset.id).sql('trino')} LIMIT 0")  # noqa: S608
    except Exception as exc:
        engine.dispose()
        err = trino.error(getattr(exc, "orig", None) or exc)
        raise type(err)(f"cannot run quality checks on {b.asset.qualified_name} through Trino: {err}") from None
    return target
