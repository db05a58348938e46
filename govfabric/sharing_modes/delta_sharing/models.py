"""Tables of the Delta Sharing mode (prefix ``share_delta_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class DeltaRecipient(Base):
    """A recipient: a bearer token (kept as a keyed digest) acting as one principal."""

    __tablename__ = "share_delta_recipients"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    principal: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class DeltaShare(Base):
    __tablename__ = "share_delta_shares"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeltaTable(Base):
    """``share.schema.table`` naming a virtual table or view; ``version`` moves when the source's
    fingerprint (its definition version, its asset's harvest version and signature) changes."""

    __tablename__ = "share_delta_tables"
    __table_args__ = (UniqueConstraint("share", "schema_name", "name"),)
    id: Mapped[str] = id_column()
    share: Mapped[str] = mapped_column(String(128), index=True)
    schema_name: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(256))  # the virtual table or view
    version: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeltaFile(Base):
    """A materialised Parquet file of one principal's rows of one table version (named by its
    content hash; ``request`` is the digest of the policy and query hints it was written under)."""

    __tablename__ = "share_delta_files"
    __table_args__ = (Index("ix_share_delta_files_key", "table_id", "version", "principal", "request"),)
    id: Mapped[str] = id_column()
    table_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    principal: Mapped[str] = mapped_column(String(128))
    request: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    rows: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
