"""Load the demo's database systems into PostgreSQL, with the Chinese names as comments,
so harvest and query tests run against a real server the way a department's system looks."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from govfabric.demo.schema import SYSTEM_TABLES, TableSpec
from govfabric.errors import SourceError, ValidationFailed

if TYPE_CHECKING:
    import psycopg

    from govfabric.demo.generate import DemoFiles


def _conninfo(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` URLs as well as plain libpq ones."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


def _redacted(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _load_table(conn: psycopg.Connection, lite: sqlite3.Connection, schema: str, spec: TableSpec) -> int:
    from psycopg import sql

    table = sql.Identifier(schema, spec.name)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(c.pg_type),
            sql.SQL(" PRIMARY KEY" if c.name == spec.primary_key else "" if c.nullable else " NOT NULL"),
        )
        for c in spec.columns
    )
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(spec.label)))
    for c in spec.columns:
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                sql.Identifier(schema, spec.name, c.name), sql.Literal(c.label)
            )
        )
    names = sql.SQL(", ").join(sql.Identifier(n) for n in spec.column_names)
    count = 0
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
        for row in lite.execute(spec.sqlite_select()):
            copy.write_row(row)
            count += 1
    return count


def write_to_postgres(
    demo: DemoFiles,
    url: str,
    schema: str = "market",
    *,
    systems: Sequence[str] = ("market_regulation",),
) -> dict[str, int]:
    """Copy the tables of ``systems`` (market_regulation, public_security) into ``schema``.

    Existing tables of the same names in that schema are replaced; everything happens in
    one transaction. Returns rows per table.
    """
    import psycopg
    from psycopg import sql

    files = {"market_regulation": demo.market_regulation, "public_security": demo.public_security}
    unknown = [s for s in systems if s not in SYSTEM_TABLES]
    if unknown:
        raise ValidationFailed(f"unknown demo system(s) {unknown}; choose from {sorted(SYSTEM_TABLES)}")
    counts: dict[str, int] = {}
    try:
        with psycopg.connect(_conninfo(url)) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for key in systems:
                lite = sqlite3.connect(f"file:{files[key]}?mode=ro", uri=True)
                try:
                    for spec in SYSTEM_TABLES[key]:
                        counts[spec.name] = _load_table(conn, lite, schema, spec)
                finally:
                    lite.close()
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot load the demo into PostgreSQL at {_redacted(url)}: {exc}".strip()
            + "; check the URL and that the server is running"
        ) from exc
    except sqlite3.Error as exc:
        raise SourceError(
            f"cannot read the demo SQLite files under {demo.root}: {exc}; regenerate the demo"
        ) from exc
    return counts
