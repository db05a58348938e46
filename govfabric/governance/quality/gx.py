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


@cache
def gx() -> Any:
    """Import GX once (≈ 2.5 s) with analytics off and define our classes on top of it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx_mod

    _define(gx_mod)
    return gx_mod


_NS: dict[str, Any] = {}


def _define(gx_mod: Any) -> None:
    from typing import Literal

    from great_expectations.datasource.fluent import SQLDatasource
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

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
            return self._execution_engine

    class ExpectColumnValuesToPassSqlCheck(UnexpectedRowsExpectation):
        """govfabric's custom expectation: rows of ``column`` failing a SQL-computed check
        (credit-code / resident-ID check characters, a pattern, a reference) are unexpected.
        Runs entirely in the database; only a sample of the failing values is fetched."""

        column: str
        check: str = "sql"

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                      execution_engine: Any = None) -> dict:
            rows = metrics["unexpected_rows_query.table"] or []
            n = int(metrics["unexpected_rows_query.row_count"] or 0)
            sample = []
            for r in rows[:SAMPLE]:
                sample.append(next(iter(r.values())) if isinstance(r, dict) else r[0])
            return {"success": n == 0, "result": {"observed_value": n, "unexpected_count": n,
                                                  "partial_unexpected_list": sample}}

    _NS.update(engine_cls=PersistentConnectionEngine, _fixed=PersistentConnectionEngine,
               datasource_cls=GovfabricSQLDatasource,
               sql_check=ExpectColumnValuesToPassSqlCheck, engines={})


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
    _NS["engines"].pop(name, None)


def engine_cls() -> Any:
    gx()
    _NS.setdefault("_fixed", _NS["engine_cls"])
    return _NS["engine_cls"]
