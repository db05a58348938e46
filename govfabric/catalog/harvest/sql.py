"""Harvest database sources in bulk: one catalog query per kind of fact, not one per table.

PostgreSQL reads ``pg_catalog`` (comments and row estimates included), MySQL/MariaDB
``information_schema``, SQLite ``sqlite_schema`` + ``pragma_table_info``, DuckDB
files ``information_schema``. Everything is read-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from govfabric.catalog.harvest.meta import ColumnMeta, TableMeta
from govfabric.errors import SourceError
from govfabric.store.bulk import paused_gc

if TYPE_CHECKING:
    from govfabric.catalog.sources.base import ConnParams

Progress = Callable[[str, int, int], None]

# Comments come from one hash join on pg_description (col_description() per row is a lookup
# each); columns are put in order per table in Python (sorting 200,000 rows here spills to
# disk at the default work_mem).
PG_TABLES = """
SELECT n.nspname, c.relname, c.relkind, d.description, GREATEST(c.reltuples, 0)::bigint, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND n.nspname NOT LIKE 'pg_temp%%' AND NOT c.relispartition
ORDER BY 1, 2
"""
PG_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, d.description, a.attnum
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass
                              AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND n.nspname NOT LIKE 'pg_temp%%'
"""
PG_LIVE = "SELECT relid, n_live_tup FROM pg_stat_user_tables"


@paused_gc()  # tens of thousands of fresh objects per read: see paused_gc
def harvest_postgresql(dsn: str) -> list[TableMeta]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.read_only = True
        with conn.cursor() as cur:
            cur.execute(PG_TABLES)
            by_oid: dict[int, TableMeta] = {}
            out: list[TableMeta] = []
            kinds = {"r": "table", "p": "table", "v": "view", "m": "view", "f": "table"}
            for schema, name, relkind, comment, reltuples, oid in cur.fetchall():
                t = TableMeta(schema, name, kinds.get(relkind, "table"), comment, int(reltuples),
                              location={"schema": schema, "table": name})
                by_oid[oid] = t
                out.append(t)
            cur.execute(PG_LIVE)
            for oid, live in cur.fetchall():
                t = by_oid.get(oid)
                if t is not None and live and (not t.row_count):
                    t.row_count = int(live)
            cur.execute(PG_COLUMNS)
            for oid, col, typ, nullable, comment, pos in cur.fetchall():
                t = by_oid.get(oid)
                if t is not None:
                    t.columns.append(ColumnMeta(col, typ, nullable, comment, pos))
    for t in out:
        t.columns.sort(key=_position)
    return out


def _position(c: ColumnMeta) -> int:
    return c.position


@paused_gc()
def harvest_mysql(params: ConnParams) -> list[TableMeta]:
    """A MySQL/MariaDB database's tables and columns, connecting with the kind's parsed fields."""
    import pymysql

    db = params.database
    # bytes: PyMySQL encodes a str password as latin-1, which refuses (or garbles) non-ASCII passwords
    conn = pymysql.connect(host=params.host, port=params.port, user=params.user,
                           password=(params.password or "").encode(), database=db, connect_timeout=10,
                           charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, table_type, table_comment, table_rows FROM information_schema.tables "
                "WHERE table_schema = %s ORDER BY table_name", (db,))
            tables = {r[0]: TableMeta(db, r[0], "view" if r[1] == "VIEW" else "table", r[2] or None,
                                      int(r[3]) if r[3] is not None else None,
                                      location={"schema": db, "table": r[0]}) for r in cur.fetchall()}
            cur.execute(
                "SELECT table_name, column_name, column_type, is_nullable, column_comment, ordinal_position "
                "FROM information_schema.columns WHERE table_schema = %s "
                "ORDER BY table_name, ordinal_position", (db,))
            for tname, col, typ, nullable, comment, pos in cur.fetchall():
                if tname in tables:
                    tables[tname].columns.append(ColumnMeta(col, typ, nullable == "YES", comment or None,
                                                            int(pos)))
    finally:
        conn.close()
    return list(tables.values())


def harvest_sqlite(path: Path, count_rows: bool = True) -> list[TableMeta]:
    if not path.exists():
        raise SourceError(f"SQLite file {path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = conn.execute(
            "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path} is not a readable SQLite database ({exc})") from exc
    out: list[TableMeta] = []
    try:
        for name, typ in rows:
            cols = conn.execute("SELECT name, type, \"notnull\", cid FROM pragma_table_info(?)",
                                (name,)).fetchall()
            t = TableMeta("main", name, typ, None, None, location={"schema": "main", "table": name})
            t.columns = [ColumnMeta(c, (ty or "BLOB").upper(), not nn, None, cid + 1) for c, ty, nn, cid in cols]
            if count_rows and typ == "table":
                quoted = '"' + name.replace('"', '""') + '"'
                t.row_count = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # noqa: S608
            out.append(t)
    finally:
        conn.close()
    return out


def harvest_duckdb(path: Path) -> list[TableMeta]:
    import duckdb

    if not path.exists():
        raise SourceError(f"DuckDB file {path} does not exist")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise SourceError(f"{path} is not a readable DuckDB database ({exc})") from exc
    try:
        tables = {(s, n): TableMeta(s, n, "view" if k == "VIEW" else "table", c, None,
                                    location={"schema": s, "table": n})
                  for s, n, k, c in con.execute(
                      "SELECT t.table_schema, t.table_name, t.table_type, d.comment "
                      "FROM information_schema.tables t LEFT JOIN duckdb_tables() d "
                      "ON d.schema_name = t.table_schema AND d.table_name = t.table_name "
                      "WHERE t.table_schema NOT IN ('information_schema', 'pg_catalog') "
                      "ORDER BY 1, 2").fetchall()}
        for s, n, est in con.execute(
                "SELECT schema_name, table_name, estimated_size FROM duckdb_tables()").fetchall():
            if (s, n) in tables:
                tables[(s, n)].row_count = int(est)
        for s, n, col, typ, nullable, comment, pos in con.execute(
                "SELECT schema_name, table_name, column_name, data_type, is_nullable, "
                "comment, column_index FROM duckdb_columns() "
                "ORDER BY schema_name, table_name, column_index").fetchall():
            if (s, n) in tables:
                tables[(s, n)].columns.append(ColumnMeta(col, typ, bool(nullable), comment, int(pos)))
    finally:
        con.close()
    return list(tables.values())
