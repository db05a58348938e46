"""Tables of the security module: column classifications and consent records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class ColumnClassification(Base):
    """The PII class and sensitivity of one column of a catalog asset (§8.4.4.4, GB/T 35273).

    ``status`` is ``detected`` until a steward confirms or overrides it (``confirmed``);
    a re-scan never overwrites a confirmed row.
    """

    __tablename__ = "gov_security_columns"
    __table_args__ = (UniqueConstraint("asset_id", "column_name"),)

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512), index=True)
    column_name: Mapped[str] = mapped_column(String(256))
    pii_class: Mapped[str | None] = mapped_column(String(32), index=True)
    personal_level: Mapped[str] = mapped_column(String(16), default="none")
    data_level: Mapped[str] = mapped_column(String(16), default="general")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(16), default="none")
    sampled: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="detected")
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)


class ConsentRecord(Base):
    """A data subject's consent (GB/T 35273 §7.2.5 … purpose, scope, grantee, expiry).

    The subject is stored only as a keyed hash (HMAC-SHA256 with a key derived from the
    workspace secret), never in plain text.
    """

    __tablename__ = "gov_security_consents"
    __table_args__ = (Index("ix_gov_security_consents_lookup", "subject_hash", "purpose", "grantee"),)

    id: Mapped[str] = id_column()
    subject_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(256))
    scope: Mapped[list] = mapped_column(default=list)
    grantee: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="given")  # given | withdrawn
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    channel: Mapped[str | None] = mapped_column(String(128))  # how it was given (portal, counter, app)
    recorded_by: Mapped[str] = mapped_column(String(128))
    withdrawn_by: Mapped[str | None] = mapped_column(String(128))
