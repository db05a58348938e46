"""Statements written with every recorded query, compiled once and handed straight to the driver.

Recording a query (query log, lineage event, usage, the audit chain's head and events) is six
small statements in one transaction. Through ``Connection.execute`` each cost ~0.1 ms — the
statement's cache key, parameter construction, events, a result object — against ~0.02 ms
for the driver itself: most of a recording's cost, paid on every query and service call.
A :class:`Prepared` statement is compiled per dialect and key set once; a call converts the
values with the column types' own bind processors (as Core would) and runs the driver's
cursor on the session's connection, inside its transaction (pipelined on PostgreSQL when the
session is). The engine's ``before_cursor_execute`` hooks still see each statement (the store's
per-call memo, tests counting statements). Only for plain INSERT / UPDATE / SELECT statements
of fixed shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert, Select, Update

from govfabric.store.bulk import defaulted, with_defaults


class _Form:
    __slots__ = ("literals", "names", "positional", "procs", "text")

    def __init__(self, text: str, names: list[str], positional: bool, procs: dict[str, Any],
                 literals: dict[str, Any]) -> None:
        self.text, self.names, self.positional, self.procs, self.literals = text, names, positional, procs, literals

    def values(self, params: dict[str, Any]) -> Any:
        procs, out = self.procs, []
        for n in self.names:
            v = params[n] if n in params else self.literals[n]
            if v is not None and n in procs:
                v = procs[n](v)
            out.append(v)
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))


class Prepared:
    """One Core statement, run without Core's per-statement machinery (see the module's docstring).

    Columns an INSERT's rows leave out get their Python-side defaults, as Core would give them."""

    def __init__(self, stmt: Insert | Update | Select[Any]) -> None:
        self.stmt = stmt
        self._table = cast(Table, stmt.table) if isinstance(stmt, Insert) else None
        #: by dialect and driver, and the keys in the order given (one order per call site)
        self._forms: dict[tuple[str, str, tuple[str, ...]], _Form] = {}
        #: per key set of an INSERT's rows: whether columns left out have defaults to fill in
        self._missing: dict[tuple[str, ...], list[Any]] = {}

    def _form(self, session: Session, keys: Sequence[str]) -> _Form:
        dialect = session.get_bind().dialect
        cache_key = (dialect.name, dialect.driver, tuple(keys))
        form = self._forms.get(cache_key)
        if form is None:
            compiled = self.stmt.compile(dialect=dialect, column_keys=list(keys) or None)
            names = list(compiled.positiontup) if compiled.positional and compiled.positiontup else list(compiled.binds)
            procs = {n: p for n in names if (p := compiled.binds[n].type._cached_bind_processor(dialect))}
            literals = {n: compiled.binds[n].effective_value for n in names if n not in keys}
            form = self._forms[cache_key] = _Form(compiled.string, names, compiled.positional, procs, literals)
        return form

    @property
    def table(self) -> Table | None:
        """An INSERT's table (None for other statements)."""
        return self._table

    def run(self, session: Session, params: dict[str, Any] | Sequence[dict[str, Any]], *, sole: bool = False) -> None:
        """Execute with one row of parameters, or many (the driver's ``executemany``). ``sole``: the
        one statement of a single-statement transaction (``Store.write_only(single=True)``)."""
        rows: Sequence[dict[str, Any]] = [params] if isinstance(params, dict) else params
        if not rows:
            return
        rows = self.complete(rows)
        form = self._form(session, list(rows[0]))
        values = form.values(rows[0]) if len(rows) == 1 else [form.values(r) for r in rows]
        _execute(session, form.text, values, len(rows) > 1, sole).close()

    def complete(self, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """An INSERT's ``rows`` with the Python-side defaults of the columns they leave out (as
        ``bulk.defaulted``), those columns found once per key set instead of every call; other
        statements' as they are. For a statement writing them too (``audit``'s head move)."""
        if self._table is None or not rows:
            return rows
        keys = tuple(rows[0])
        missing = self._missing.get(keys)
        if missing is None:
            missing = self._missing[keys] = defaulted(self._table, keys)
        return with_defaults(rows, missing)

    def first(self, session: Session, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a SELECT, as a tuple (values as the driver returns them)."""
        form = self._form(session, list(params or ()))
        cur = _execute(session, form.text, form.values(params or {}), False)
        try:
            row = cur.fetchone()
        finally:
            cur.close()
        return tuple(row) if row is not None else None


def _execute(session: Session, text: str, values: Any, many: bool, sole: bool = False) -> Any:
    """``text`` on a new driver cursor of the session's connection, after the engine's hooks."""
    conn = session.sole() if sole else session.connection()  # type: ignore[attr-defined]
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn._has_events or conn.engine._has_events:
            conn.dispatch.before_cursor_execute(conn, cur, text, values, None, many)
        if many:
            cur.executemany(text, values)
        else:
            cur.execute(text, values)
    except BaseException:
        cur.close()
        raise
    return cur
