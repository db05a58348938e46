"""Tables of the data service (prefix ``share_ds_``). No copy of the data: per key only a keyed
hash of the row as the subscriber last saw it, and change records (key, operation, cursor);
values are read through the guarded read path when pulled or pushed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Subscription(Base):
    """An ordered range (table, columns, filter) of one subscriber, with its delivery state."""

    __tablename__ = "share_ds_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(128), index=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    columns: Mapped[list] = mapped_column()
    filter: Mapped[str | None] = mapped_column(Text)
    key_columns: Mapped[list] = mapped_column()
    change_column: Mapped[str | None] = mapped_column(String(128))
    push_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # sealed with the workspace key
    purpose: Mapped[str] = mapped_column(Text)
    # pending | active | rejected | paused | suspended | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    request_id: Mapped[int] = mapped_column(Integer)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    due: Mapped[bool] = mapped_column(Boolean, default=True)
    high_water: Mapped[str | None] = mapped_column(Text)  # JSON: the change column's last seen value
    delivered_seq: Mapped[int] = mapped_column(Integer, default=0)  # changes pushed up to this cursor
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column()


class RowState(Base):
    """A key of a subscription's range and the keyed hash of its row as last seen."""

    __tablename__ = "share_ds_rows"

    subscription_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(Text)  # JSON list of the key values
    row_hash: Mapped[str] = mapped_column(String(64))


class Change(Base):
    """One inserted, updated or deleted key; ``seq`` is the cursor."""

    __tablename__ = "share_ds_changes"
    __table_args__ = (Index("ix_share_ds_changes_sub_seq", "subscription_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)  # JSON list of the key values
    op: Mapped[str] = mapped_column(String(8))  # insert | update | delete
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One push of a range of changes; its id is the idempotency key, the same on every retry."""

    __tablename__ = "share_ds_deliveries"
    __table_args__ = (Index("ix_share_ds_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = id_column()
    subscription_id: Mapped[int] = mapped_column(Integer, index=True)
    from_seq: Mapped[int] = mapped_column(Integer)  # exclusive
    to_seq: Mapped[int] = mapped_column(Integer)  # inclusive
    changes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
