"""A bounded sample of an asset's columns, read in place through the DuckDB engine.

Detection and standards checks look at a sample, never at the whole table: the first
``limit`` rows (``LIMIT`` is pushed into the source scan, so the cost does not grow
with the table). The sample is read with the steward's authority, kept in memory
only, and never stored; only counts derived from it are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from govfabric.auth.readpath import reads_source_data
from govfabric.catalog.read import source_of
from govfabric.errors import GovfabricError, SourceError, ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset, Source
    from govfabric.fabric import Fabric

DEFAULT_SAMPLE = 1000
MAX_SAMPLE = 100_000
SAMPLE_ENGINE = "duckdb"


def sample_sql(ref: tuple[str, str, str], columns: list[str], limit: int) -> str:
    """``SELECT "c1", … FROM "catalog"."schema"."table" LIMIT n`` built as a tree (names quoted)."""
    return _sample_tree(ref, columns, limit).sql("duckdb")


def _sample_tree(ref: tuple[str, str, str], columns: list[str], limit: int) -> Any:
    from sqlglot import exp  # here: the CLI imports this module for DEFAULT_SAMPLE at start-up

    catalog, schema, table = ref
    tbl = exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True),
                    catalog=exp.to_identifier(catalog, quoted=True))
    cols = [exp.column(exp.to_identifier(c, quoted=True)) for c in columns]
    return exp.select(*cols).from_(tbl).limit(limit)


def asset_with_source(fabric: Fabric, ref: str) -> tuple[Asset, Source | None]:
    with fabric.store.session() as s:
        asset = fabric.catalog.resolve(s, ref)
        src = source_of(s, asset)
        return asset, src


def assets_with_sources(fabric: Fabric, refs: list[str]) -> list[tuple[Asset, Source | None]]:
    """:func:`asset_with_source` of many refs in one session: qualified names (what a harvest
    reports) in one query, anything else resolved as one ref is."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from govfabric.catalog.models import Asset

    with fabric.store.session() as s:
        by_name = {a.qualified_name: a for a in s.scalars(select(Asset).options(selectinload(Asset.columns))
                                                           .where(Asset.qualified_name.in_(refs)))}
        out = []
        for ref in refs:
            asset = by_name.get(ref) or fabric.catalog.resolve(s, ref)
            out.append((asset, source_of(s, asset)))
        return out


#: (asset, its source, the columns wanted or None for all) — one table of a sampling call
SampleItem = tuple["Asset", "Source | None", "list[str] | None"]
#: tables sampled by one DuckDB query: one statement instead of one per table (a harvest's scan
#: samples hundreds), small enough that a failing table is found again quickly
BATCH = 50
#: source kinds whose tables DuckDB reads correctly side by side in one query. Not SQLite: DuckDB
#: 1.5's sqlite scanner answers ``SELECT max(v) FROM a UNION ALL SELECT max(v) FROM b`` with a's
#: value twice (the same for scalar subqueries), so each SQLite table keeps a query of its own
BATCH_KINDS = frozenset({"postgresql"})


def sample_columns(fabric: Fabric, asset: Asset, source: Source | None, columns: list[str] | None = None,
                   limit: int = DEFAULT_SAMPLE) -> dict[str, list[Any]]:
    """Column name → up to ``limit`` values (the first rows the source returns)."""
    return sample_many(fabric, [(asset, source, columns)], limit)[0]


def _sampled_assets(fabric: Fabric, items: Sequence[SampleItem], *a: Any, **k: Any) -> tuple[Fabric, list[Asset]]:
    return fabric, [asset for asset, _, _ in items]


@reads_source_data("security.sample", via="steward", harvest=True, target=_sampled_assets)
def sample_many(fabric: Fabric, items: Sequence[SampleItem], limit: int = DEFAULT_SAMPLE) -> list[dict[str, list[Any]]]:
    """The samples of many tables, in the order given: one DuckDB query per :data:`BATCH` tables
    (each table's ``LIMIT`` scan aggregated into one list per column), so that a harvest's scan of
    hundreds of tables costs a few statements, not hundreds. Values keep their types."""
    if not 1 <= limit <= MAX_SAMPLE:
        raise ValidationFailed(f"sample size {limit} is out of range; use 1 … {MAX_SAMPLE:,}")
    engine = fabric.queries.engine(SAMPLE_ENGINE)
    from govfabric.virtualization.engines import Binding

    wanted: list[list[str]] = []
    bindings: list[Binding | None] = []
    for asset, source, columns in items:
        names = [c.name for c in asset.columns] if columns is None else columns
        asset.require_columns(names)
        if source is None:
            raise ValidationFailed(f"{asset.qualified_name} was registered by hand and has no data to sample")
        if names and source.kind not in engine.SOURCE_KINDS:
            raise SourceError(f"{asset.qualified_name}: the {SAMPLE_ENGINE} engine cannot read {source.kind} sources")
        wanted.append(names)
        bindings.append(Binding(source, asset) if names else None)
    used = [b for b in bindings if b is not None]
    out: list[dict[str, list[Any]]] = [{c: [] for c in names} for names in wanted]
    if not used:
        return out
    engine.prepare(used)
    todo = [(i, engine.physical_ref(b), wanted[i]) for i, b in enumerate(bindings) if b is not None]
    together = [t for t in todo if items[t[0]][1].kind in BATCH_KINDS]  # type: ignore[union-attr]
    parts = [together[k:k + BATCH] for k in range(0, len(together), BATCH)]
    parts += [[t] for t in todo if items[t[0]][1].kind not in BATCH_KINDS]  # type: ignore[union-attr]
    for part in parts:
        _sample_or_say(fabric, engine, items, part, limit, out)
    return out


def _sample_or_say(fabric: Fabric, engine: Any, items: Sequence[SampleItem], part: list[tuple[int, Any, list[str]]],
                   limit: int, out: list[dict[str, list[Any]]]) -> None:
    """:func:`_sample_part`; when the engine fails, find the table (each again on its own) and
    say which, keeping the first line of the engine's message."""
    try:
        _sample_part(fabric, engine, part, limit, out)
    except GovfabricError:
        raise
    except Exception as exc:
        if len(part) > 1:
            for one in part:
                out[one[0]] = {c: [] for c in one[2]}  # nothing half-read stays
                _sample_or_say(fabric, engine, items, [one], limit, out)
            return
        raise SourceError(f"cannot sample {items[part[0][0]][0].qualified_name}: {str(exc).splitlines()[0]}; "
                          "check the source with `govfabric source test` and re-harvest it") from exc


def _sample_part(fabric: Fabric, engine: Any, part: list[tuple[int, Any, list[str]]], limit: int,
                 out: list[dict[str, list[Any]]]) -> None:
    """Sample the tables of ``part`` into ``out``: one table's rows as they come, several tables as
    one row of per-table structs of lists (see :func:`batch_sample_sql`)."""
    timeout = fabric.settings.query_timeout_s
    if len(part) == 1:
        i, ref, names = part[0]
        values = out[i]
        for batch in engine.stream(sample_sql(ref, names, limit), timeout_s=timeout, row_limit=limit + 1):
            for k, c in enumerate(names):
                values[c].extend(batch.column(k).to_pylist())
        return
    sql = batch_sample_sql([(ref, names) for _, ref, names in part], limit)
    for batch in engine.stream(sql, timeout_s=timeout, row_limit=1):
        for k, (i, _, names) in enumerate(part):
            for got in batch.column(k).to_pylist():
                got = got or {}
                for j, c in enumerate(names):
                    out[i][c].extend(got.get(f"c{j}") or ())  # no rows: list() of nothing is NULL


def batch_sample_sql(tables: list[tuple[tuple[str, str, str], list[str]]], limit: int) -> str:
    """One row, a column per table: ``(SELECT {'c0': LIST(s."a"), …} FROM (sample) AS s)``, where
    ``sample`` is :func:`sample_sql` of the table — the rows a query of its own reads. The struct's
    keys are positions, so that any column name (any case, any characters) is safe."""
    from sqlglot import exp

    subs = []
    for k, (ref, names) in enumerate(tables):
        fields = [exp.PropertyEQ(this=exp.to_identifier(f"c{j}"), expression=exp.Anonymous(
            this="list", expressions=[exp.column(exp.to_identifier(c, quoted=True), table="s")]))
            for j, c in enumerate(names)]
        sub = exp.select(exp.Struct(expressions=fields)).from_(_sample_tree(ref, names, limit).subquery("s"))
        subs.append(sub.subquery().as_(f"t{k}"))
    return exp.select(*subs).sql("duckdb")
