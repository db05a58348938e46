"""Tables of the virtualization module: virtual tables and views, access requests, grants,
column masks, row-filter policies and the query log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class VirtualTableRow(Base):
    """A stable virtual name over one catalog asset, with its column mapping."""

    __tablename__ = "virt_tables"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    columns: Mapped[list] = mapped_column(default=list)  # [{name, physical|expr, type, hidden, cn_name}]
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | broken
    problem: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VirtualViewRow(Base):
    __tablename__ = "virt_views"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    sql: Mapped[str] = mapped_column(Text)
    dialect: Mapped[str] = mapped_column(String(32), default="duckdb")
    depends_on: Mapped[list] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    problem: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VirtualViewVersion(Base):
    __tablename__ = "virt_view_versions"
    __table_args__ = (UniqueConstraint("view_id", "version"),)

    id: Mapped[str] = id_column()
    view_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sql: Mapped[str] = mapped_column(Text)
    dialect: Mapped[str] = mapped_column(String(32))
    depends_on: Mapped[list] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessRequest(Base):
    """apply → approve/reject (§8.4.2.2c)."""

    __tablename__ = "virt_access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requester: Mapped[str] = mapped_column(String(128), index=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    columns: Mapped[list | None] = mapped_column()
    purpose: Mapped[str] = mapped_column(Text)
    until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Grant(Base):
    """Read access of a principal (or ``role:NAME``) to a virtual table's columns and rows."""

    __tablename__ = "virt_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grantee: Mapped[str] = mapped_column(String(160), index=True)  # principal name or role:NAME
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    columns: Mapped[list | None] = mapped_column()  # None = every visible column
    unmasked: Mapped[list] = mapped_column(default=list)  # columns this grantee sees in clear
    row_filter: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    purpose: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(Integer)
    granted_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class ColumnMask(Base):
    """A mask on a column for everyone without an explicit unmasked grant."""

    __tablename__ = "virt_masks"
    __table_args__ = (UniqueConstraint("table_name", "column_name"),)

    id: Mapped[str] = id_column()
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    column_name: Mapped[str] = mapped_column(String(256))
    rule: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RowFilterPolicy(Base):
    """A predicate every query of ``principal`` (or ``role:NAME``, or ``*``) on a table must satisfy."""

    __tablename__ = "virt_row_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    applies_to: Mapped[str] = mapped_column(String(160))
    expr: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueryLog(Base):
    """One executed (or refused) virtual query: the monitoring view reads these."""

    __tablename__ = "virt_query_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    principal: Mapped[str] = mapped_column(String(128))  # not indexed: no query reads by it (9d4c2f7a1b36)
    engine: Mapped[str] = mapped_column(String(16))
    sql_digest: Mapped[str] = mapped_column(String(64))
    tables: Mapped[list] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16))  # ok | rejected | denied | error | timeout
    error: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyGeneration(Base):
    """One row counting writes that can change how a query plans (catalog bindings, views,
    grants, masks, row filters). Database triggers bump it in the writing transaction, so a
    process caching plans sees any other process's change on its next query (``cache.py``)."""

    __tablename__ = "virt_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
