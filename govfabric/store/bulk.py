"""Insert many rows at once: one statement compiled once, each value converted once, and on
PostgreSQL (psycopg) ``COPY … FROM STDIN``.

A harvest of 10,000 tables writes ~250,000 rows (assets, columns, versions, search entries,
lineage edges). Core's executemany converts every value of every row, and psycopg sends one
``INSERT`` per row (pipelined, but still a statement, a bind and a row count each); the ORM's
bulk insert also splits rows into a statement per run of equal key sets, as it leaves out None.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, FromClause, Table, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError


def bulk_insert(conn: Connection, table: FromClause, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the connection's transaction.

    Columns left out get their Python-side default per row (as Core would); values are converted
    by the columns' types (JSON, UTC timestamps) once per distinct object — a harvest's rows
    share their timestamp and empty lists — then handed to the driver as they are."""
    if not rows:
        return
    table = cast(Table, table)  # a model's ``__table__`` (typed as a FromClause)
    rows = _with_defaults(table, rows)
    keys = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup) if compiled.positional and compiled.positiontup else list(compiled.binds)
    if set(names) != set(keys):  # a default only SQLAlchemy knows how to fill in
        conn.execute(insert(table), list(rows))
        return
    procs = {n: p for n in names if (p := compiled.binds[n].type._cached_bind_processor(dialect))}
    copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
    if copy:  # COPY takes text: JSON and arrays written once per distinct value, not once per row
        procs = {n: _as_text(procs.get(n)) for n in names
                 if n in procs or isinstance(table.c[n].type.dialect_impl(dialect), ARRAY)}
    columns = [_converted(rows, n, procs[n]) if n in procs else list(map(itemgetter(n), rows)) for n in names]
    if copy:
        _copy(conn, table, names, columns)
    elif compiled.positional:
        conn.exec_driver_sql(compiled.string, list(zip(*columns, strict=True)))
    else:
        conn.exec_driver_sql(compiled.string, [dict(zip(names, vs, strict=True))
                                               for vs in zip(*columns, strict=True)])


#: fewer rows than this go through :func:`bulk_insert` as they are: dropping and adding constraints has its own cost
LOAD_ROWS = 10_000
#: how long :func:`bulk_load` waits for the tables' exclusive locks before it inserts with the keys in place
LOAD_LOCK_WAIT = "200ms"
#: why the keys could not be dropped that make inserting with them in place the answer: lock not
#: available, deadlock, or a store user who may write the table but does not own it
_NOT_NOW = ("55P03", "40P01", "42501")
_FOREIGN_KEYS = text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname")


def bulk_load(conn: Connection, table: FromClause, rows: Sequence[dict[str, Any]], *,
              min_rows: int | None = None) -> None:
    """:func:`bulk_insert`, and on PostgreSQL, when ``rows`` outnumber the rows already in ``table``
    (a first harvest's 200,000 column rows), with the table's foreign keys dropped for the insert and
    added again from their stored definitions in the same transaction: one join checks them all,
    where each row's check trigger ran a query of its own (a 200,000-row ``COPY`` 1.2–1.5 s with
    them, 0.5 s without plus 0.05 s for the join). Atomic: the rows and the keys commit together
    or not at all, and a row that breaks a key fails the whole insert, as before.

    The price is an exclusive lock on ``table`` and the tables its keys reference, until commit:
    call it last before the commit. If another transaction holds them for longer than
    ``LOAD_LOCK_WAIT``, the rows go in with the keys in place instead (no wait on a deadlock), as they
    do when the store's user does not own the tables.
    ``min_rows``: fewer rows go in with the keys in place (default ``LOAD_ROWS``)."""
    t = cast(Table, table)
    least = LOAD_ROWS if min_rows is None else min_rows
    if conn.dialect.name != "postgresql" or len(rows) < least or _has_rows(conn, t, len(rows)):
        bulk_insert(conn, t, rows)
        return
    target = conn.dialect.identifier_preparer.format_table(t)
    quote = conn.dialect.identifier_preparer.quote_identifier
    keys = conn.execute(_FOREIGN_KEYS, {"t": target}).all()
    if not keys:
        bulk_insert(conn, t, rows)
        return
    wait = conn.exec_driver_sql("SHOW lock_timeout").scalar()
    conn.exec_driver_sql("SAVEPOINT gf_bulk_load")
    try:
        conn.execute(text("SELECT set_config('lock_timeout', :w, true)"), {"w": LOAD_LOCK_WAIT})
        for name, _ in keys:
            conn.exec_driver_sql(f"ALTER TABLE {target} DROP CONSTRAINT {quote(name)}")
    except DBAPIError as e:
        if getattr(e.orig, "sqlstate", None) not in _NOT_NOW:
            raise
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT gf_bulk_load")  # the lock timeout's setting with it
        conn.exec_driver_sql("RELEASE SAVEPOINT gf_bulk_load")
        bulk_insert(conn, t, rows)
        return
    conn.execute(text("SELECT set_config('lock_timeout', :w, true)"), {"w": wait})
    conn.exec_driver_sql("RELEASE SAVEPOINT gf_bulk_load")
    bulk_insert(conn, t, rows)
    for name, definition in keys:
        conn.exec_driver_sql(f"ALTER TABLE {target} ADD CONSTRAINT {quote(name)} {definition}")


def _has_rows(conn: Connection, table: Table, n: int) -> bool:
    """Whether ``table`` holds at least ``n`` rows (counting no further)."""
    return bool(conn.execute(select(func.count() >= n).select_from(
        select(literal(1)).select_from(table).limit(n).subquery())).scalar())


def new_ids(n: int) -> list[str]:
    """``n`` ids of the form :func:`govfabric.store.base.new_id` gives (UUID4 hex), made in one go
    and sorted, so that a bulk insert appends to the id indexes instead of scattering over them."""
    raw = bytearray(os.urandom(16 * n))  # version and variant bits set in place, 16 bytes apart
    raw[6::16], raw[8::16] = raw[6::16].translate(_VERSION_4), raw[8::16].translate(_VARIANT_RFC4122)
    h = raw.hex()
    ids = [h[k:k + 32] for k in range(0, 32 * n, 32)]
    ids.sort()
    return ids


_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))  # byte 6: high nibble 4
_VARIANT_RFC4122 = bytes((b & 0x3F) | 0x80 for b in range(256))  # byte 8: top bits 10


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a bulk write runs (nested and concurrent pauses allowed).

    A large write holds hundreds of thousands of fresh containers until its commit — row dicts,
    the lineage payload — and each of the collector's full passes walks them all again: a third
    of a 2,000-table first harvest's CPU. Reference counting still frees everything that is not
    a cycle; cycles made meanwhile wait for the first collection after the last pause ends. The
    collector is the process's: other threads' cycles wait too, for the length of the write."""
    with _GC.lock:
        if _GC.pauses == 0:
            _GC.restore = gc.isenabled()  # it may have been off already: then it stays off
            gc.disable()
        _GC.pauses += 1
    try:
        yield
    finally:
        with _GC.lock:
            _GC.pauses -= 1
            if _GC.pauses == 0 and _GC.restore:
                gc.enable()


#: the body of the SQLite triggers that move the virtual layer's cache generation (migrations 31c46094de46,
#: 5b7e2d9c4a61); on PostgreSQL they run once per statement already
_BUMP = "UPDATE virt_generation SET n = n + 1 WHERE id = 1"
_ROW_BUMPS = text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                  "AND name = 'virt_gen_' || :t || '_insert'")


@contextmanager
def generation_bumped_once(conn: Connection, tables: Sequence[str]) -> Iterator[None]:
    """SQLite, for a harvest's bulk insert into ``tables``: move the cache generation once instead of
    once per row. Their ``AFTER INSERT`` triggers (``UPDATE virt_generation …``, FOR EACH ROW) are
    dropped for the write and made again from their stored SQL, in the same transaction, and the
    generation is bumped once: 40,000 column rows ran 40,000 updates, each forcing a statement
    journal, about a third of the columns' insert. Readers of the generation only compare it; other
    connections see the triggers throughout (the DDL commits with the rows or not at all). A trigger
    whose SQL is not the bump is left alone."""
    if conn.dialect.name != "sqlite":
        yield
        return
    dropped: list[str] = []
    for t in tables:
        for name, sql in conn.execute(_ROW_BUMPS, {"t": t}).all():
            if sql == f"CREATE TRIGGER {name} AFTER INSERT ON {t} BEGIN {_BUMP}; END":
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
                dropped.append(sql)
    try:
        yield
    finally:  # an error rolls the whole transaction back, the drops with it
        for sql in dropped:
            conn.exec_driver_sql(sql)
        if dropped:
            conn.exec_driver_sql(_BUMP)


class _GC:
    lock = threading.Lock()
    pauses = 0
    restore = False


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """``rows`` with the scalar or callable Python-side defaults of the columns they leave out."""
    return with_defaults(rows, defaulted(table, rows[0]))


def defaulted(table: Table, keys: Iterable[str]) -> list[Any]:
    """The columns of ``table`` not among ``keys`` that have a scalar or callable Python-side default."""
    given = set(keys)
    return [c for c in table.columns if c.key not in given and c.default is not None
            and (c.default.is_scalar or c.default.is_callable)]


def with_defaults(rows: Sequence[dict[str, Any]], missing: Sequence[Any]) -> Sequence[dict[str, Any]]:
    """``rows`` (copied) with the defaults of the ``missing`` columns (:func:`defaulted`) filled in."""
    if not missing:
        return rows
    out = [dict(r) for r in rows]
    for c in missing:
        d: Any = c.default
        for r in out:
            r[c.key] = d.arg if d.is_scalar else d.arg(None)
    return out


def _as_text(proc: Any) -> Any:
    """``proc`` (a bind processor, or none), then what COPY's text form would make of a JSON
    wrapper (its JSON text) or a list of strings (an array literal, every element quoted)."""
    from psycopg.types.json import Json, Jsonb

    from govfabric.store.db import json_text

    def text_of(value: Any) -> Any:
        value = proc(value) if proc is not None else value
        if isinstance(value, (Json, Jsonb)):
            return (value.dumps or json_text)(value.obj)
        if isinstance(value, list):
            return _array_literal(value)
        return value

    return text_of


def _array_literal(value: list[Any]) -> Any:
    """``{"a","b"}`` for a list of strings (``value`` itself for anything else): joined in one go, and
    escaped element by element only when an element holds a quote or a backslash — a harvest's search
    entries are 10,000 lists of ~140 tokens, which never do."""
    try:
        joined = '","'.join(value)
    except TypeError:  # not all strings
        return value
    if "\\" in joined or joined.count('"') != 2 * (len(value) - 1):
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in value)
    return '{"' + joined + '"}' if value else "{}"


def _converted(rows: Sequence[dict[str, Any]], name: str, proc: Any) -> list[Any]:
    """The column ``name`` of ``rows`` through the type's bind processor, once per distinct object."""
    memo: dict[int, tuple[Any, Any]] = {}
    out = []
    for value in map(itemgetter(name), rows):
        if value is not None:
            hit = memo.get(id(value))
            if hit is None:
                hit = memo[id(value)] = (value, proc(value))  # holds value: its id stays unique
            value = hit[1]
        out.append(value)
    return out


def _copy(conn: Connection, table: Table, names: list[str], columns: list[list[Any]]) -> None:
    """``COPY`` in text form: psycopg writes each value by its Python type (the JSON wrappers the
    bind processors made, lists as arrays, aware datetimes with their offset into timestamptz)."""
    quote = conn.dialect.identifier_preparer
    target = quote.format_table(table)
    cols = ", ".join(quote.quote(table.c[n].name) for n in names)
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
        write = copy.write_row
        for row in zip(*columns, strict=True):
            write(row)
