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

from sqlglot import exp

from govfabric.catalog.sources import KINDS, kind_of
from govfabric.errors import ValidationFailed
from govfabric.virtualization.engines import REGISTRY, Binding, Engine, engine_class

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset, Source
    from govfabric.fabric import Fabric


#: source kinds whose own database runs the checks (``RUNS_QUALITY_IN_PLACE``)
IN_PLACE = tuple(n for n, k in KINDS.items() if k.RUNS_QUALITY_IN_PLACE)
ENGINES = ("auto", *REGISTRY, *IN_PLACE)
APPLICATION = "govfabric-quality"


@dataclass
class Target:
    """An SQLAlchemy engine plus how to name each asset's table on it."""

    engine: Any
    dialect: str  # sqlglot dialect
    kind: str  # an engine name (``REGISTRY``) or an in-place source kind (``IN_PLACE``)
    tables: dict[str, exp.Table] = field(default_factory=dict)  # asset id -> its table on ``engine``

    def table(self, asset_id: str) -> exp.Table:
        return self.tables[asset_id].copy()

    def close(self) -> None:
        self.engine.dispose()


def _unreadable(cls: type[Engine], sources: dict[str, Source]) -> list[str]:
    return sorted(f"{s.name} ({s.kind})" for s in sources.values() if not cls.can_read(s))


def choose(fabric: Fabric, main: tuple[Source, Asset], refs: list[tuple[Source, Asset]], engine: str) -> str:
    """The engine a run uses: as asked (refused with the reason when it cannot read a source), or ``auto``:
    the default engine when it is a server (not embedded), configured and able to read every source,
    else the source itself where its kind checks in place, else the first registered engine that reads every source."""
    if engine not in ENGINES:
        raise ValidationFailed(f"quality engine {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    src = main[0]
    sources = {s.name: s for s, _ in [main, *refs]}
    in_place = kind_of(src).RUNS_QUALITY_IN_PLACE and all(r[0].id == src.id for r in refs)
    if engine == "auto":
        default = fabric.settings.default_engine
        cls = engine_class(default) if default in REGISTRY else None
        if cls is not None and not cls.EMBEDDED and cls.configured(fabric.settings) and not _unreadable(cls, sources):
            return default
        if in_place:
            return src.kind
        return next(n for n in REGISTRY if not _unreadable(engine_class(n), sources))
    if engine in IN_PLACE:
        if not in_place or src.kind != engine:
            title = kind_of(engine).TITLE or engine
            reason = f"its source is not {title}" if src.kind != engine else "a reference rule reads another source"
            raise ValidationFailed(f"{main[1].qualified_name} cannot be checked on {title}: {reason}; "
                                   "use another engine or auto")
        return engine
    cls = engine_class(engine)
    if odd := _unreadable(cls, sources):
        raise ValidationFailed(f"{cls.NAME.capitalize()} cannot read {', '.join(odd)}; it reads "
                               f"{', '.join(sorted(cls.SOURCE_KINDS))} sources — use engine auto or another engine")
    return engine


def open_target(fabric: Fabric, main: tuple[Source, Asset], refs: list[tuple[Source, Asset]],
                engine: str = "auto") -> Target:
    kind = choose(fabric, main, refs, engine)
    pairs = [main, *refs]
    if kind in IN_PLACE:
        return _in_place(fabric, main[0], pairs)
    eng = fabric.queries.engine(kind)
    access = eng.sqlalchemy([Binding(s, a) for s, a in pairs], timeout_s=fabric.settings.quality_timeout_s,
                            application=APPLICATION)
    return Target(access.engine, eng.DIALECT, eng.NAME, access.tables)


def _in_place(fabric: Fabric, src: Source, pairs: list[tuple[Source, Asset]]) -> Target:
    """The source's own database (PostgreSQL), read-only, each statement limited to the quality timeout."""
    import sqlalchemy as sa

    kind = kind_of(src)
    url = kind.sqlalchemy_url(fabric.catalog, src)  # type: ignore[attr-defined]
    timeout_ms = max(1, round(fabric.settings.quality_timeout_s * 1000))
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={
        "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
        "application_name": APPLICATION})
    try:
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
    except Exception as exc:
        from govfabric.catalog.sources import friendly_connect_error

        engine.dispose()
        raise friendly_connect_error(src.kind, src.uri, exc, fabric.catalog.connection_uri(src)[1]) from None
    tables = {a.id: exp.table_(exp.to_identifier((a.location or {}).get("table", a.name), quoted=True),
                               db=exp.to_identifier((a.location or {}).get("schema", "public"), quoted=True))
              for _, a in pairs}
    return Target(engine, kind.SQL_DIALECT, src.kind, tables)  # type: ignore[arg-type]
