"""Tables of lineage and provenance.

``gov_lineage_events`` keeps every OpenLineage run event as emitted. ``gov_lineage_edges``
is an index derived from them when they are stored: one row per dataset→dataset and
column→column (or column→dataset, for INDIRECT) link, so that graph questions never
re-read the event payloads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
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
    forwarded_at: Mapped[datetime | None] = mapped_column()
    forward_error: Mapped[str | None] = mapped_column(Text)


class LineageEdge(Base):
    """One link of the lineage graph; ``src_field``/``dst_field`` are "" for a whole dataset.

    kind: DATASET (input → output), DIRECT (column → column), INDIRECT (column → dataset).
    A later event of the same job for the same output replaces that output's edges.
    """

    __tablename__ = "gov_lineage_edges"
    __table_args__ = (Index("ix_gov_lineage_edges_dst_job", "dst", "job_name"),)

    id: Mapped[str] = id_column()
    src: Mapped[str] = mapped_column(String(700), index=True)  # "namespace/name"
    src_field: Mapped[str] = mapped_column(String(256), default="")
    dst: Mapped[str] = mapped_column(String(700))
    dst_field: Mapped[str] = mapped_column(String(256), default="")
    kind: Mapped[str] = mapped_column(String(16))
    subtype: Mapped[str | None] = mapped_column(String(32))
    job_name: Mapped[str] = mapped_column(String(256))
    actor: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
