"""Tables of metadata management: glossary terms, indicators, business rules, technical
metadata records and their links to catalog assets and columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class Term(Base):
    """A glossary term (业务术语)."""

    __tablename__ = "gov_meta_terms"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    cn_name: Mapped[str | None] = mapped_column(String(256))
    definition: Mapped[str] = mapped_column(Text)
    synonyms: Mapped[list] = mapped_column(default=list)
    steward: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Indicator(Base):
    """An indicator (指标) with its formula and caliber (口径)."""

    __tablename__ = "gov_meta_indicators"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    cn_name: Mapped[str | None] = mapped_column(String(256))
    formula: Mapped[str] = mapped_column(Text)
    caliber: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(64))
    dimensions: Mapped[list] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rule(Base):
    """A business rule (业务规则) in words, optionally with a checkable expression."""

    __tablename__ = "gov_meta_rules"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text)
    expression: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TechnicalRecord(Base):
    """Technical metadata of one of the standard's types (schema, model, program, interface,
    packaging, application); ``body`` is validated by the type's pydantic model."""

    __tablename__ = "gov_meta_technical"
    __table_args__ = (UniqueConstraint("type", "name"),)

    id: Mapped[str] = id_column()
    type: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(256))
    asset_id: Mapped[str | None] = mapped_column(String(32), index=True)
    body: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Link(Base):
    """A term, indicator or rule attached to an asset, or to one of its columns (``column`` "" = whole)."""

    __tablename__ = "gov_meta_links"
    __table_args__ = (UniqueConstraint("kind", "item_id", "asset_id", "column"),)

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(16))  # term | indicator | rule
    item_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    column: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
