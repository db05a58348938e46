"""Tables of lineage and provenance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class LineageEvent(Base):
    """One OpenLineage run event, as emitted (``payload``), indexed by its datasets."""

    __tablename__ = "gov_lineage_events"

    id: Mapped[str] = id_column()
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    job_namespace: Mapped[str] = mapped_column(String(256))
    job_name: Mapped[str] = mapped_column(String(256), index=True)
    inputs: Mapped[list] = mapped_column(default=list)  # ["namespace/name", …]
    outputs: Mapped[list] = mapped_column(default=list)
    actor: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(default=dict)
    sql: Mapped[str | None] = mapped_column(Text)
