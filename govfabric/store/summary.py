"""What ``govfabric status`` shows of a store, read in one connection with SQLAlchemy Core.

The command must stay quick (issue 15: ≤ 0.5 s CPU): importing the ORM and the models of the auth
and catalog modules cost ~40% of it. So the four tables it reads are named here as lightweight
``table()`` clauses (names only, no metadata); ``tests/store/test_store_summary.py`` checks each
against the owning module's model, and that the answers are the ones those modules give.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Boolean, column, func, select, table
from sqlalchemy.engine import Connection

from govfabric.errors import AccessDenied, NotFound
from govfabric.store.db import Store

#: ``auth.models.Principal``, ``AuditHead``; ``catalog.models.Source``, ``Asset``
PRINCIPALS = table("auth_principals", column("name"), column("roles", JSON), column("active", Boolean))
AUDIT_HEAD = table("auth_audit_head", column("id"), column("seq"), column("hash"))
SOURCES = table("catalog_sources", column("id"))
ASSETS = table("catalog_assets", column("status"))
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


def summarise(store: Store, user: str) -> Summary:
    """The summary as ``user`` sees it; an unknown or deactivated principal is refused as every
    command refuses it (``Fabric.actor``)."""
    with store.engine.connect() as conn:
        roles = _roles(conn, user)
        sources = conn.execute(select(func.count()).select_from(SOURCES)).scalar() or 0
        assets = conn.execute(select(func.count()).select_from(ASSETS)
                              .where(ASSETS.c.status == "active")).scalar() or 0
        head = conn.execute(select(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.hash).where(AUDIT_HEAD.c.id == 1)).first()
    seq, digest = (head[0], head[1]) if head else (0, GENESIS)
    return Summary(roles, sources, assets, seq, digest)


def _roles(conn: Connection, user: str) -> list[str]:
    row = conn.execute(select(PRINCIPALS.c.roles, PRINCIPALS.c.active).where(PRINCIPALS.c.name == user)).first()
    if row is None:
        raise NotFound(f"acting user {user!r} is not a principal of this workspace; "
                       "choose one with --as / GOVFABRIC_USER, or add it with `govfabric principal add`")
    if not row.active:
        raise AccessDenied(f"principal {user!r} is deactivated")
    return sorted(set(row.roles or []))
