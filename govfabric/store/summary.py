"""What ``govfabric status`` shows of a store, read in one connection through the DB-API.

The command must stay quick (issue 15: ≤ 0.5 s CPU). Importing the ORM and the auth and catalog
modules' models was ~40% of it, and SQLAlchemy itself is half the budget: so these few queries are
plain SQL that both ``sqlite3`` (a workspace's default store, opened as :class:`SQLiteFile`, with
no SQLAlchemy at all) and the :class:`Store`'s DB-API connection (PostgreSQL) run.
``tests/store/test_store_summary.py`` checks the tables and columns named here against the owning
modules' models, and the answers against theirs (``Fabric.actor``, ``AuditLog.head``, ``Catalog``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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


@contextmanager
def _dbapi(store: Store | SQLiteFile) -> Iterator[tuple[Any, str]]:
    if isinstance(store, SQLiteFile):
        with store.dbapi() as found:
            yield found
        return
    conn = store.engine.raw_connection()
    try:
        yield conn, "?" if store.engine.dialect.paramstyle == "qmark" else "%s"
    finally:
        conn.rollback()
        conn.close()


def summarise(store: Store | SQLiteFile, user: str) -> Summary:
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
