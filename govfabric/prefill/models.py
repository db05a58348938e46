"""Tables of the prefill services: item specs (versioned), prefill calls, 容缺 materials pending."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class ItemRow(Base):
    """One version of a service item (事项): its whole spec as validated JSON, and the spec's digest
    so a prefill call can cite exactly which spec it filled against."""

    __tablename__ = "prefill_items"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_prefill_items_name_version"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(256))
    spec: Mapped[dict] = mapped_column(default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallRow(Base):
    """One prefill call: who ran it, as which service principal, for which applicant (a keyed hash,
    the consent module's), which fields and licences were read, and the outcome. No values."""

    __tablename__ = "prefill_calls"

    id: Mapped[str] = id_column()
    item: Mapped[str] = mapped_column(String(64), index=True)
    item_version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    principal: Mapped[str] = mapped_column(String(128))
    applicant_hash: Mapped[str] = mapped_column(String(64), index=True)
    fields: Mapped[list] = mapped_column(default=list)
    licences: Mapped[list] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16))  # filled | refused
    reason: Mapped[str | None] = mapped_column(Text)
    consent_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PendingRow(Base):
    """A 容缺 material the applicant may hand in later, by ``due``."""

    __tablename__ = "prefill_pending"

    id: Mapped[str] = id_column()
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    item: Mapped[str] = mapped_column(String(64))
    material: Mapped[str] = mapped_column(String(64))
    applicant_hash: Mapped[str] = mapped_column(String(64), index=True)
    due: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | submitted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(128))
