"""Tables of notifications (prefix ``notify_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Notification(Base):
    """One message to one principal; ``deliveries`` records each channel's outcome."""

    __tablename__ = "notify_messages"
    __table_args__ = (Index("ix_notify_messages_recipient", "recipient", "created_at"),)
    id: Mapped[str] = id_column()
    recipient: Mapped[str] = mapped_column(String(128))
    sender: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()
    deliveries: Mapped[dict] = mapped_column(default=dict)  # channel -> "sent" | "failed: …"


class Preference(Base):
    """Where a principal wants notifications besides in-app (the webhook secret sealed)."""

    __tablename__ = "notify_settings"
    principal: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # SecretBox-sealed
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
