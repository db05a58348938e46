"""Tables of the standards module: data elements, naming rules, column mappings, check results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class DataElement(Base):
    """A data element (数据元): what a value means and which values are allowed."""

    __tablename__ = "gov_std_elements"

    id: Mapped[str] = id_column()
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    cn_name: Mapped[str] = mapped_column(String(128))
    definition: Mapped[str] = mapped_column(Text, default="")
    data_type: Mapped[str] = mapped_column(String(32))
    format: Mapped[str | None] = mapped_column(Text)  # a regular expression the whole value matches
    code_list: Mapped[dict] = mapped_column(default=dict)  # allowed value → meaning (empty: any)
    validator: Mapped[str | None] = mapped_column(String(32))  # a named check (check digits …)
    keywords: Mapped[list] = mapped_column(default=list)  # column names / words that suggest it
    standard: Mapped[str | None] = mapped_column(String(128))  # e.g. GB/T 2261.1-2003
    builtin: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NamingRule(Base):
    """A naming rule for table or column names: a pattern, forbidden words, or a length limit."""

    __tablename__ = "gov_std_naming_rules"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    applies_to: Mapped[str] = mapped_column(String(16))  # table | column
    kind: Mapped[str] = mapped_column(String(32))  # pattern | forbidden_words | max_length
    pattern: Mapped[str | None] = mapped_column(Text)
    words: Mapped[list] = mapped_column(default=list)
    max_length: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    builtin: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ColumnMapping(Base):
    """Which data element a catalog column carries: suggested by govfabric, confirmed by a steward."""

    __tablename__ = "gov_std_mappings"
    __table_args__ = (UniqueConstraint("asset_id", "column_name"),)

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512))
    column_name: Mapped[str] = mapped_column(String(256))
    element: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="suggested")  # suggested | confirmed
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[str] = mapped_column(Text, default="")
    mapped_by: Mapped[str] = mapped_column(String(128))
    mapped_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConformanceCheck(Base):
    """One run of ``standards check`` on an asset: its score and violations, kept as history."""

    __tablename__ = "gov_std_checks"

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512))
    score: Mapped[float] = mapped_column(Float)
    checks: Mapped[int] = mapped_column(Integer)
    violations: Mapped[list] = mapped_column(default=list)
    sampled: Mapped[int] = mapped_column(Integer, default=0)
    checked_by: Mapped[str] = mapped_column(String(128))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
