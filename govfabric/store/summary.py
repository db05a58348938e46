"""What ``govfabric status`` shows of a store, read in one connection through the DB-API.

The command must stay quick (issue 15: ≤ 0.5 s CPU). Importing the ORM and the auth and catalog
modules' models was ~40% of it, and SQLAlchemy itself is half the budget: so these few queries are
plain SQL run without SQLAlchemy, by ``sqlite3`` (a workspace's default store, opened as
:class:`SQLiteFile`) or ``psycopg`` (a PostgreSQL store, :class:`PostgresReader`); a store URL
either cannot take exactly as SQLAlchemy would opens as a :class:`Store` and its DB-API connection.
``tests/store/test_store_summary.py`` checks the tables and columns named here against the owning
modules' models, and the answers against theirs (``Fabric.actor``, ``AuditLog.head``, ``Catalog``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from govfabric.errors import AccessDenied, ConfigError, NotFound

if TYPE_CHECKING:
    from govfabric.store.db import Store

#: ``auth.models.Principal``, ``catalog.models.Source`` and ``Asset``, ``auth.models.AuditHead``
#: (``{p}``: the connection's parameter marker)
ROLES = "SELECT roles, active FROM auth_principals WHERE name = {p}"
SOURCES = "SELECT count(*) FROM catalog_sources"
ASSETS = "SELECT count(*) FROM catalog_assets WHERE status = 'active'"
HEAD = "SELECT seq, hash FROM auth_audit_head WHERE id = 1"
#: ``auth.audit.GENESIS``: the head of a chain with no event
GENESIS = "0" * 64


@dataclass(frozen=True)
class Summary:
    """The acting principal's roles, what the catalog holds, and the audit chain's head."""

    roles: list[str]
    sources: int
    assets: int
    audit_events: int
    audit_head: str


class SQLiteFile:
    """A SQLite store file read with ``sqlite3``, no SQLAlchemy: only for :func:`summarise` (and its
    revision check). ``workspace.open_reader`` opens it for plain ``sqlite:///`` URLs only, which
    SQLAlchemy would open just so and render as ``safe_url`` (non-ASCII percent-encoded, as its ``quote``)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.safe_url = f"sqlite:///{quote(path, safe=' +/')}"
        self._conn: sqlite3.Connection | None = None

    @contextmanager
    def dbapi(self) -> Iterator[tuple[Any, str]]:
        """The connection and its parameter marker."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30)  # Store's busy timeout
        yield self._conn, "?"

    def check_revision(self) -> None:
        """``Store.check_revision``, read with ``sqlite3``."""
        from govfabric.store.migrate import require_current

        try:
            with self.dbapi() as (conn, _):
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                                ).fetchone() is None:
                    current: set[str] = set()
                else:
                    current = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
        except sqlite3.OperationalError as exc:
            raise ConfigError(f"cannot open the metadata store {self.safe_url}: {exc}") from None
        require_current(current, self.safe_url)

    def dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


#: a PostgreSQL store URL that ``psycopg`` (libpq) reads as SQLAlchemy's psycopg dialect does: user,
#: password, one host, port, database and ``key=value`` options, as ``Store`` would connect with them
PG_URL = re.compile(r"postgres(?:ql)?(?:\+psycopg)?://(?:(?P<user>[^:@/?#\[\]]+)(?::(?P<password>[^@/?#]*))?@)?"
                    r"(?P<host>[\w.-]+)(?::(?P<port>\d{1,5}))?/(?P<db>[^/?#]+)(?:\?(?P<query>[\w.%=&-]+))?")
_PASSWORD_KEYS = ("password", "passwd", "pass")


class PostgresReader:
    """A PostgreSQL store read with ``psycopg``, no SQLAlchemy: :class:`SQLiteFile`'s counterpart,
    for the URLs :data:`PG_URL` takes (``workspace.open_reader``). ``safe_url`` is rendered as
    ``Store.safe_url`` renders it; errors are redacted as ``Store.redact`` redacts them."""

    dialect = "postgresql"

    def __init__(self, url: str, password: str | None = None) -> None:
        m = PG_URL.fullmatch(url)
        if m is None:
            raise ValueError("not a plain PostgreSQL URL")  # open_reader checks first
        query = parse_qsl(m["query"] or "", keep_blank_values=True)
        self._password = password if password is not None else (
            unquote(m["password"]) if m["password"] is not None else None)
        self._secrets = (self._password, *(v for k, v in query if k.lower() in _PASSWORD_KEYS))
        self._conninfo = "postgresql://" + url.split("://", 1)[1]
        shown = sorted((k, v) for k, v in query if k.lower() not in _PASSWORD_KEYS)
        self.safe_url = "postgresql+psycopg://" + (
            (quote(unquote(m["user"]), safe=" +") + (":***" if self._password is not None else "") + "@")
            if m["user"] is not None else "") + m["host"] + (f":{int(m['port'])}" if m["port"] else "") + \
            "/" + quote(unquote(m["db"]), safe=" +/") + \
            ("?" + "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in shown) if shown else "")
        self._conn: Any = None

    @contextmanager
    def dbapi(self) -> Iterator[tuple[Any, str]]:
        """The connection and its parameter marker."""
        import psycopg

        if self._conn is None:
            try:
                extra: dict[str, Any] = {} if self._password is None else {"password": self._password}
                self._conn = psycopg.connect(self._conninfo, **extra)
            except psycopg.Error as exc:
                raise ConfigError(f"cannot open the metadata store {self.safe_url}: {self.redact(str(exc))}"
                                  ) from None
        try:
            yield self._conn, "%s"
        finally:
            self._conn.rollback()

    def redact(self, text: str) -> str:
        from govfabric.auth.secrets import redact

        return redact(text, *self._secrets)

    def check_revision(self) -> None:
        """``Store.check_revision`` (``migrate.current_heads``), read with ``psycopg``."""
        import psycopg

        from govfabric.store.migrate import require_current

        try:
            with self.dbapi() as (conn, _):
                cur = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
                current = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")} \
                    if cur.fetchone()[0] else set()
        except psycopg.Error as exc:
            raise ConfigError(f"cannot open the metadata store {self.safe_url}: {self.redact(str(exc))}"
                              ) from None
        require_current(current, self.safe_url)

    def dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@contextmanager
def _dbapi(store: Store | SQLiteFile | PostgresReader) -> Iterator[tuple[Any, str]]:
    if isinstance(store, SQLiteFile | PostgresReader):
        with store.dbapi() as found:
            yield found
        return
    conn = store.engine.raw_connection()
    try:
        yield conn, "?" if store.engine.dialect.paramstyle == "qmark" else "%s"
    finally:
        conn.rollback()
        conn.close()


def summarise(store: Store | SQLiteFile | PostgresReader, user: str) -> Summary:
    """The summary as ``user`` sees it; an unknown or deactivated principal is refused as every
    command refuses it (``Fabric.actor``)."""
    with _dbapi(store) as (conn, marker):
        cur = conn.cursor()
        try:
            cur.execute(ROLES.format(p=marker), (user,))
            roles = _roles(user, cur.fetchone())
            sources, assets = (_one(cur, SOURCES) or 0), (_one(cur, ASSETS) or 0)
            cur.execute(HEAD)
            head = cur.fetchone()
        finally:
            cur.close()
    seq, digest = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    return Summary(roles, int(sources), int(assets), seq, digest)


def _one(cur: Any, sql: str) -> Any:
    cur.execute(sql)
    return cur.fetchone()[0]


def _roles(user: str, row: tuple[Any, Any] | None) -> list[str]:
    if row is None:
        raise NotFound(f"acting user {user!r} is not a principal of this workspace; "
                       "choose one with --as / GOVFABRIC_USER, or add it with `govfabric principal add`")
    roles, active = row
    if not active:
        raise AccessDenied(f"principal {user!r} is deactivated")
    if isinstance(roles, str | bytes):  # SQLite keeps JSON as text; psycopg decodes it
        roles = json.loads(roles)
    return sorted(set(roles or []))
