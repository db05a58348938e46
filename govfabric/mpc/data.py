"""How a provider reads its own data: a swappable reader, so its own grants apply.

``DataReader`` is the seam: the hub's reader goes through ``Fabric.sql`` (the virtual SQL
layer with the provider's grants); ``DuckDBReader`` reads a local DuckDB database file.
Readers are named by a spec string (``duckdb:/path/db.duckdb`` or ``fabric:HOME#USER``) so a
party service can be started with ``--data SPEC``; other modules may add schemes to ``READERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import sqlglot
from sqlglot import exp

from govfabric.auth.readpath import reads_source_data
from govfabric.errors import ConfigError, QueryRejected, SourceError


class DataReader(Protocol):
    def read(self, asset: str, columns: list[str], where: str | None) -> pa.Table: ...


def select_sql(asset: str, columns: list[str], where: str | None, dialect: str = "duckdb") -> str:
    """Build ``SELECT cols FROM asset [WHERE cond]`` as a tree; refuse anything but a plain filter."""
    table = exp.to_table(asset, dialect=dialect)
    selected = [exp.column(c, quoted=True) for c in columns] or [exp.alias_(exp.Literal.number(1), "_row")]
    query = exp.select(*selected).from_(table)
    if where:
        try:
            cond = sqlglot.condition(where, dialect=dialect)
        except sqlglot.errors.ParseError as exc:
            raise QueryRejected(f"the task's filter {where!r} is not valid SQL: {exc}") from exc
        if cond.find(exp.Select, exp.Subquery, exp.Command, exp.Anonymous):
            raise QueryRejected("a task filter may only compare columns with constants (no subqueries or UDFs)")
        query = query.where(cond)
    return query.sql(dialect=dialect)


class DuckDBReader:
    """Reads from a DuckDB database file opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ConfigError(f"DuckDB file {self.path} does not exist")

    @reads_source_data("mpc.read.duckdb_file", via="operator")
    def read(self, asset: str, columns: list[str], where: str | None) -> pa.Table:
        import duckdb

        sql = select_sql(asset, columns, where)
        try:
            with duckdb.connect(str(self.path), read_only=True) as con:
                return con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise SourceError(f"cannot read {asset} ({', '.join(columns)}) from {self.path}: {exc}") from exc


class FabricReader:
    """Reads through the hub's virtual SQL layer as the provider's principal (its grants,
    row filters and masks apply) and writes an audit event for each read."""

    def __init__(self, fabric: Any) -> None:
        self.fabric = fabric

    @classmethod
    def from_target(cls, target: str) -> FabricReader:
        """``HOME#USER`` (USER optional: the workspace's default user)."""
        import govfabric

        home, _, user = target.partition("#")
        return cls(govfabric.connect(home, user or None))

    @reads_source_data("mpc.read.fabric", via="pipeline")
    def read(self, asset: str, columns: list[str], where: str | None) -> pa.Table:
        table = self.fabric.sql(select_sql(asset, columns, where), dialect="duckdb")
        self.fabric.audit.append(
            "mpc.data_read", f"asset:{asset}", {"columns": columns, "where": where, "rows": table.num_rows}
        )
        return table


READERS: dict[str, Callable[[str], DataReader]] = {"duckdb": DuckDBReader, "fabric": FabricReader.from_target}


def make_reader(spec: str) -> DataReader:
    scheme, _, target = spec.partition(":")
    if scheme not in READERS or not target:
        raise ConfigError(f"unknown data reader {spec!r}; use one of {', '.join(f'{s}:TARGET' for s in READERS)}")
    return READERS[scheme](target)
