"""Tables of information sync (prefix ``share_sync_``). Attachment bytes live in the workspace's
blob folder, named by their SHA-256; rows name them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Topic(Base):
    __tablename__ = "share_sync_topics"
    __table_args__ = (Index("ix_share_sync_topics_created", "created_at"),)
    id: Mapped[str] = id_column()
    type: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    starter: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reply(Base):
    __tablename__ = "share_sync_replies"
    __table_args__ = (Index("ix_share_sync_replies_topic", "topic_id", "created_at"),)
    id: Mapped[str] = id_column()
    topic_id: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(128), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    __tablename__ = "share_sync_attachments"
    id: Mapped[str] = id_column()
    topic_id: Mapped[str] = mapped_column(String(32), index=True)
    reply_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))  # sanitised original name, for display only
    media_type: Mapped[str] = mapped_column(String(128))  # sniffed from the content
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
