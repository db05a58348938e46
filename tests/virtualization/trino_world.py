"""``virt_world`` on a real Trino: its ``TABLES`` in ``memory.default`` (where the world's
physical references for the ``trino`` engine point), loaded once per server.

The load is idempotent and safe when several test sessions share one server: a table whose
rows already match is kept; otherwise it is dropped and loaded again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from infra.services import require_trino_url
from sqlglot import exp
from virt_world import TABLES

_LOADED: dict[str, Any] = {}


def trino_cursor(url: str, user: str = "govfabric-tests") -> Any:
    import trino

    p = urlsplit(url)
    con = trino.dbapi.connect(host=p.hostname, port=p.port, user=user, http_scheme=p.scheme)
    return con.cursor()


def _sql_value(value: object) -> str:
    if isinstance(value, dt.date):
        return f"DATE {exp.Literal.string(value.isoformat()).sql('trino')}"
    return exp.convert(value).sql("trino")


def _run(cur: Any, sql: str) -> list[Any]:
    cur.execute(sql)
    return list(cur.fetchall())


def _normal(rows: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in rows), key=lambda r: tuple((v is None, str(v)) for v in r))


def load_trino(cur: Any) -> None:
    """Create ``memory.default.<table>`` for every world table unless it already holds the rows."""
    import trino

    for name, (cols, rows) in TABLES.items():
        target = f"memory.default.{exp.to_identifier(name, quoted=True).sql('trino')}"
        names = ", ".join(exp.to_identifier(c, quoted=True).sql("trino") for c in cols)
        try:
            have = _run(cur, f"SELECT {names} FROM {target}")
            if _normal(have) == _normal([list(r) for r in rows]):
                continue
        except trino.exceptions.TrinoUserError:
            pass
        _run(cur, f"DROP TABLE IF EXISTS {target}")
        ddl = ", ".join(f"{exp.to_identifier(c, quoted=True).sql('trino')} {t}" for c, t in cols.items())
        try:
            _run(cur, f"CREATE TABLE {target} ({ddl})")
        except trino.exceptions.TrinoUserError as exc:  # another session created it meanwhile
            if "already exists" not in str(exc):
                raise
            continue
        values = ", ".join("(" + ", ".join(_sql_value(v) for v in row) + ")" for row in rows)
        _run(cur, f"INSERT INTO {target} VALUES {values}")


def trino_runner() -> Callable[[str], list[tuple]]:
    """A runner for the case suite: loads the world once, then returns rows of a SQL text."""
    url = require_trino_url()
    if "cur" not in _LOADED:
        cur = trino_cursor(url)
        load_trino(cur)
        _LOADED["cur"] = cur
    cur = _LOADED["cur"]
    return lambda sql: [tuple(r) for r in _run(cur, sql)]
