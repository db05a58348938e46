"""Tables of data quality: rules, runs, per-rule results (the metric history that
fluctuation rules compare against) and rectification work orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class QualityRule(Base):
    """One rule on one catalog asset; ``spec`` is the validated rule definition."""

    __tablename__ = "gov_quality_rules"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(128))
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict] = mapped_column(default=dict)
    severity: Mapped[str] = mapped_column(String(16), default="error")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QualityRun(Base):
    """One validation of an asset's suite (a GX checkpoint run)."""

    __tablename__ = "gov_quality_runs"

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512))
    engine: Mapped[str] = mapped_column(String(32))
    success: Mapped[bool] = mapped_column()
    rules: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    docs_path: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class QualityResult(Base):
    """One rule's outcome in one run. ``sample`` holds unexpected values, masked when personal."""

    __tablename__ = "gov_quality_results"
    __table_args__ = (Index("ix_gov_quality_results_rule_at", "rule_id", "at"),)

    id: Mapped[str] = id_column()
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    rule_name: Mapped[str] = mapped_column(String(128))
    success: Mapped[bool] = mapped_column()
    observed: Mapped[dict] = mapped_column(default=dict)  # {"value": …} as GX reported it
    metric: Mapped[float | None] = mapped_column(Float)  # numeric metric kept for fluctuation history
    element_count: Mapped[int | None] = mapped_column(Integer)
    unexpected_count: Mapped[int | None] = mapped_column(Integer)
    sample: Mapped[list] = mapped_column(default=list)
    masked: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkOrder(Base):
    """A rectification work order for a failed rule, owned by the asset's department."""

    __tablename__ = "gov_quality_work_orders"

    id: Mapped[str] = id_column()
    number: Mapped[int] = mapped_column(Integer, unique=True)
    rule_id: Mapped[str] = mapped_column(String(32), index=True)
    run_id: Mapped[str] = mapped_column(String(32))
    asset_id: Mapped[str] = mapped_column(String(32), index=True)
    asset_name: Mapped[str] = mapped_column(String(512))
    department: Mapped[str | None] = mapped_column(String(256), index=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    details: Mapped[dict] = mapped_column(default=dict)
    history: Mapped[list] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
