"""A bounded sample of an asset's columns, read in place through the DuckDB engine.

Detection and standards checks look at a sample, never at the whole table: the first
``limit`` rows (``LIMIT`` is pushed into the source scan, so the cost does not grow
with the table). The sample is read with the steward's authority, kept in memory
only, and never stored; only counts derived from it are.
"""

from __future__ import annotations

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
    from sqlglot import exp  # here: the CLI imports this module for DEFAULT_SAMPLE at start-up

    catalog, schema, table = ref
    tbl = exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True),
                    catalog=exp.to_identifier(catalog, quoted=True))
    cols = [exp.column(exp.to_identifier(c, quoted=True)) for c in columns]
    return exp.select(*cols).from_(tbl).limit(limit).sql("duckdb")


def asset_with_source(fabric: Fabric, ref: str) -> tuple[Asset, Source | None]:
    with fabric.store.session() as s:
        asset = fabric.catalog.resolve(s, ref)
        src = source_of(s, asset)
        return asset, src


@reads_source_data("security.sample", via="steward", harvest=True,
                   target=lambda fabric, asset, *a, **k: (fabric, asset))
def sample_columns(fabric: Fabric, asset: Asset, source: Source | None, columns: list[str] | None = None,
                   limit: int = DEFAULT_SAMPLE) -> dict[str, list[Any]]:
    """Column name → up to ``limit`` values (the first rows the source returns)."""
    if not 1 <= limit <= MAX_SAMPLE:
        raise ValidationFailed(f"sample size {limit} is out of range; use 1 … {MAX_SAMPLE:,}")
    names = [c.name for c in asset.columns]
    wanted = names if columns is None else columns
    asset.require_columns(wanted)
    if source is None:
        raise ValidationFailed(f"{asset.qualified_name} was registered by hand and has no data to sample")
    if not wanted:
        return {}
    engine = fabric.queries.engine(SAMPLE_ENGINE)
    if source.kind not in engine.SOURCE_KINDS:
        raise SourceError(f"{asset.qualified_name}: the {SAMPLE_ENGINE} engine cannot read {source.kind} sources")
    from govfabric.virtualization.engines import Binding

    binding = Binding(source, asset)
    engine.prepare([binding])
    ref = engine.physical_ref(binding)
    assert ref is not None
    out: dict[str, list[Any]] = {c: [] for c in wanted}
    settings = fabric.settings
    try:
        for batch in engine.stream(sample_sql(ref, wanted, limit), timeout_s=settings.query_timeout_s,
                                   row_limit=limit + 1):
            for i, c in enumerate(wanted):
                out[c].extend(batch.column(i).to_pylist())
    except GovfabricError:
        raise
    except Exception as exc:  # the engine's own errors: say which asset, keep the first line
        raise SourceError(f"cannot sample {asset.qualified_name}: {str(exc).splitlines()[0]}; check the source "
                          "with `govfabric source test` and re-harvest it") from exc
    return out
