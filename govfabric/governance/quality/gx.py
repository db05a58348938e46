"""great-expectations, loaded lazily: the DuckDB fix, govfabric's custom SQL expectations and
the ephemeral context each run uses.

Why the fix: GX's ``SqlAlchemyExecutionEngine`` runs each query inside ``with
engine.connect()`` and reads the rows after the connection went back to the pool; the
pool's reset-on-return rolls DuckDB back, which discards the pending result, so every
metric comes back empty and every expectation fails (GX #10738, #11579). GX already
keeps one persistent connection for SQLite and SQL Server for a similar reason; we do
the same for DuckDB: the connection stays checked out for the engine's lifetime, so a
result stays readable until GX has read it — lazily, without buffering whole results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

SAMPLE = 20
SUMMARY_METRIC = "govfabric_sql_check.summary"


@cache
def gx() -> Any:
    """Import GX once (≈ 0.6–0.8 s of CPU) with analytics off and define our classes on top of it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from govfabric.deferred import deferred, deferred_names

    with deferred("scipy.stats", "altair"), deferred_names(*FILE_DATASOURCES, *core_expectations()):
        import great_expectations as gx_mod  # scipy, altair: for KL divergence only

    _define(gx_mod)
    return gx_mod


_NS: dict[str, Any] = {}


def _define(gx_mod: Any) -> None:
    from typing import ClassVar, Literal

    import sqlalchemy as sa
    from great_expectations.core.metric_domain_types import MetricDomainTypes
    from great_expectations.datasource.fluent import SQLDatasource
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation
    from great_expectations.expectations.metrics.metric_provider import metric_value
    from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider

    class PersistentConnectionEngine(SqlAlchemyExecutionEngine):
        """Keeps one connection checked out, so results are read before any pool reset."""

        _gf_connection: Any = None

        @contextmanager
        def get_connection(self) -> Iterator[Any]:
            if self._gf_connection is None or self._gf_connection.closed:
                self._gf_connection = self.engine.connect()
            yield self._gf_connection

        def close(self) -> None:
            if self._gf_connection is not None:
                self._gf_connection.close()
                self._gf_connection = None
            super().close()

    class GovfabricSQLDatasource(SQLDatasource):
        """A SQL datasource over an engine govfabric prepared (attached sources, read-only)."""

        type: Literal["govfabric_sql"] = "govfabric_sql"  # type: ignore[assignment]

        @property
        def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
            return _NS["engine_cls"]

        def get_engine(self) -> Any:
            return _NS["engines"][self.name]

        def get_execution_engine(self) -> SqlAlchemyExecutionEngine:
            if not self._execution_engine:
                self._execution_engine = self.execution_engine_type(
                    engine=self.get_engine(), create_temp_table=False)
                _NS["executions"][self.name] = self._execution_engine
            return self._execution_engine

    class SqlCheckSummary(QueryMetricProvider):
        """Count and sample of a check's unexpected rows in about **one** scan.

        GX's stock metrics run the unexpected-rows query twice in full (``COUNT(*)`` over it,
        then the rows — which DuckDB materialises whole before GX fetches 200); a
        check-character test costs a full evaluation per row, so that doubled the run. Here the
        sample comes first (``LIMIT``, so it stops early when failures are common); fewer rows
        than the sample size means it saw them all and is the count, otherwise one ``COUNT(*)``.
        """

        metric_name = SUMMARY_METRIC
        value_keys = ("unexpected_rows_query",)
        query_param_name: ClassVar[str] = "unexpected_rows_query"

        @metric_value(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                        metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict
                        ) -> dict[str, Any]:
            batch, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs,
                                                              domain_type=MetricDomainTypes.TABLE)
            query = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
                query=cls._get_query_from_metric_value_kwargs(metric_value_kwargs), batch_selectable=batch,
                execution_engine=execution_engine)
            sample = [r[0] for r in execution_engine.execute_query(
                sa.text(f"SELECT * FROM ({query}) AS gf_u LIMIT {SAMPLE}")).fetchall()]  # noqa: S608
            total = len(sample)
            if total == SAMPLE:
                total = int(execution_engine.execute_query(
                    sa.text(f"SELECT COUNT(*) FROM ({query}) AS gf_u")).scalar() or 0)  # noqa: S608
            rows = None
            if total:  # the Data Docs show failures as a share of the rows: count them only then
                rows = int(execution_engine.execute_query(
                    sa.select(sa.func.count()).select_from(batch)).scalar() or 0)  # type: ignore[arg-type]
            return {"count": total, "sample": sample, "rows": rows}

    class ExpectColumnValuesToPassSqlCheck(UnexpectedRowsExpectation):
        """govfabric's custom expectation: rows of ``column`` failing a SQL-computed check
        (credit-code / resident-ID check characters, a pattern, a reference) are unexpected.
        Runs entirely in the database, in about one scan (:class:`SqlCheckSummary`); only a sample of the
        failing values is fetched."""

        column: str
        check: str = "sql"
        metric_dependencies: ClassVar[tuple[str, ...]] = (SUMMARY_METRIC,)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                      execution_engine: Any = None) -> dict:
            summary = metrics[SUMMARY_METRIC]
            n = summary["count"]
            result: dict[str, Any] = {"observed_value": n, "unexpected_count": n,
                                      "partial_unexpected_list": summary["sample"]}
            rows = summary.get("rows")
            if n and rows:  # GX's renderer needs both once anything failed (KeyError otherwise)
                result |= {"element_count": rows, "unexpected_percent": 100.0 * n / rows}
            return {"success": n == 0, "result": result}

    from great_expectations.datasource.fluent.sources import DataSourceManager

    registered = DataSourceManager.__getattr__

    def crud_method(self: Any, attr_name: str) -> Any:
        """A datasource type's ``add_…``/``update_…``/``delete_…`` method; one of the deferred file
        datasources' registers its type when imported, so import them on the first miss."""
        try:
            return registered(self, attr_name)
        except AttributeError:
            if not attr_name.startswith(("add_", "update_", "delete_")) or not _load_file_datasources():
                raise
            return registered(self, attr_name)

    DataSourceManager.__getattr__ = crud_method  # type: ignore[method-assign]

    _NS.update(engine_cls=PersistentConnectionEngine, _fixed=PersistentConnectionEngine,
               datasource_cls=GovfabricSQLDatasource,
               sql_check=ExpectColumnValuesToPassSqlCheck, engines={}, executions={})


def _load_file_datasources() -> bool:
    """Import the deferred datasources (False: all were already), in GX's order: each imports its base
    classes' names from the ``fluent`` package, so the package's stand-ins are replaced by the real
    classes as each module arrives."""
    import importlib
    import sys

    import great_expectations.datasource.fluent as fluent

    missing = [m for m in FILE_DATASOURCES if m not in sys.modules]
    for module in missing:
        real = importlib.import_module(module)
        for name, value in list(vars(fluent).items()):
            if repr(value) == f"<deferred {module}.{name}>":
                setattr(fluent, name, getattr(real, name))
    return bool(missing)


def use_stock_engine(stock: bool) -> None:
    """Tests only: run with GX's own execution engine to show the DuckDB bug is real."""
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    gx()
    _NS["engine_cls"] = SqlAlchemyExecutionEngine if stock else _NS["_fixed"]


def sql_check(column: str, query: str, check: str, description: str, meta: dict[str, Any]) -> Any:
    gx()
    return _NS["sql_check"](column=column, unexpected_rows_query=query, check=check, description=description,
                            meta=meta)


def register_engine(name: str, engine: Any) -> Any:
    """A datasource named ``name`` over ``engine`` in a fresh ephemeral context."""
    g = gx()
    ctx = g.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    _NS["engines"][name] = engine
    ds = ctx.data_sources.add_govfabric_sql(name=name, connection_string="sqlite://")
    return ctx, ds


def forget_engine(name: str) -> None:
    """Drop the run's engine and close the connection its execution engine kept checked out
    (a disposed pool does not close it: a scheduler would leak one source connection per run)."""
    _NS["engines"].pop(name, None)
    execution = _NS["executions"].pop(name, None)
    if execution is not None:
        execution.close()


def engine_cls() -> Any:
    gx()
    _NS.setdefault("_fixed", _NS["engine_cls"])
    return _NS["engine_cls"]


#: GX's pandas and Spark datasources (≈ 0.16 s of CPU: pydantic v1 models of every pandas reader and
#: Spark file format), imported by ``great_expectations.datasource.fluent`` to register their types;
#: govfabric runs every check through its own SQL datasource, so they load on first use only: one of
#: their names used, or a context's ``data_sources.add_pandas``-like method asked for (:func:`_define`)
FILE_DATASOURCES = tuple(f"great_expectations.datasource.fluent.{m}" for m in (
    "pandas_datasource", "pandas_file_path_datasource", "pandas_filesystem_datasource",
    "pandas_dbfs_datasource", "pandas_s3_datasource", "pandas_google_cloud_storage_datasource",
    "pandas_azure_blob_storage_datasource", "spark_datasource", "spark_file_path_datasource",
    "spark_filesystem_datasource", "spark_dbfs_datasource", "spark_s3_datasource",
    "spark_google_cloud_storage_datasource", "spark_azure_blob_storage_datasource"))


def core_expectations() -> tuple[str, ...]:
    """The modules of GX's core expectations: about 60 pydantic v1 models (≈ 0.23 s of CPU), of which a
    run uses the few its rules map to. Each loads when :mod:`expectations` first calls its class, which
    then joins GX's registry as on any import (GX looks a class up there by name only for expectations
    a suite holds, all made that way)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("great_expectations")  # a top-level spec: GX itself is not imported
    if spec is None or not spec.submodule_search_locations:
        return ()
    core = Path(spec.submodule_search_locations[0]) / "expectations" / "core"
    return tuple(f"great_expectations.expectations.core.{p.stem}" for p in sorted(core.glob("expect_*.py")))
