"""Tables of sharing process management (prefix ``share_process_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class ShareOffer(Base):
    """A share: an offer of a virtual table, view, query service or dataset, moving through its lifecycle."""

    __tablename__ = "share_process_offers"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # table | view | service | dataset
    target: Mapped[str] = mapped_column(String(256))
    tables: Mapped[list] = mapped_column(default=list)  # the virtual tables a grant must cover
    title: Mapped[str | None] = mapped_column(Text)
    owner_department: Mapped[str | None] = mapped_column(String(256), index=True)
    sharing_class: Mapped[str] = mapped_column(String(32))
    open_class: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    limits: Mapped[dict] = mapped_column(default=dict)  # stage -> hours (over the workspace's)
    public_grants: Mapped[list] = mapped_column(default=list)  # grant ids to ``public``
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareTransition(Base):
    """One step of an offer's lifecycle, with who took it and why."""

    __tablename__ = "share_process_transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(String(32), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareRequest(Base):
    """A request to use a published offer: granted at once (无条件) or through access requests (有条件)."""

    __tablename__ = "share_process_requests"
    __table_args__ = (Index("ix_share_process_requests_offer", "offer_id", "requester"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(String(32))
    requester: Mapped[str] = mapped_column(String(128), index=True)
    department: Mapped[str | None] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))  # automatic | approval
    access_requests: Mapped[list] = mapped_column(default=list)  # virtualization access request ids
    grants: Mapped[list] = mapped_column(default=list)  # grant ids made at once (automatic)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareLimit(Base):
    """The workspace's time limit for one stage (hours); an offer's own limits win."""

    __tablename__ = "share_process_limits"
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    hours: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareReminder(Base):
    """An overdue reminder: one per item and stage entry (a later run does not repeat it)."""

    __tablename__ = "share_process_reminders"
    __table_args__ = (Index("ix_share_process_reminders_item", "item", "stage", "since"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item: Mapped[str] = mapped_column(String(64))  # offer:<name> | request:<id>
    offer_id: Mapped[str] = mapped_column(String(32), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    notify: Mapped[str] = mapped_column(String(256))  # who should act: a role and department
    reminded_at: Mapped[datetime] = mapped_column(default=utcnow)
