"""Tables of the conditional query services: one row per published service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class QueryService(Base):
    """A named lookup over one virtual table: which columns callers may filter on and how
    (``params``: column -> ops), which of them a call must constrain (``require_one_of``), what it
    answers (``columns``), in which order (``order_key``, a unique key: keyset pagination) and
    how many rows a page holds."""

    __tablename__ = "share_query_api_services"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    params: Mapped[dict] = mapped_column(default=dict)  # {column: [eq|in|range|prefix, ...]}
    require_one_of: Mapped[list] = mapped_column(default=list)
    columns: Mapped[list] = mapped_column(default=list)
    order_key: Mapped[list] = mapped_column(default=list)
    page_size: Mapped[int] = mapped_column(Integer, default=100)
    max_page_size: Mapped[int] = mapped_column(Integer, default=1000)
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
