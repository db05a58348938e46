"""Tables of the dataset-files sharing mode (prefix ``share_files_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class DatasetOffer(Base):
    """A table or view a steward of its owning department offers as files."""

    __tablename__ = "share_files_datasets"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(256), unique=True)  # the virtual table or view
    kind: Mapped[str] = mapped_column(String(8))  # table | view
    title: Mapped[str | None] = mapped_column(Text)
    formats: Mapped[list] = mapped_column(default=list)
    encoding: Mapped[str] = mapped_column(String(16), default="utf-8")  # of CSV files
    bom: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_department: Mapped[str | None] = mapped_column(String(256))
    published_by: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unpublished_at: Mapped[datetime | None] = mapped_column()


class DatasetFile(Base):
    """One file written for one consumer: what it holds is what that consumer's grant showed."""

    __tablename__ = "share_files_files"
    __table_args__ = (Index("ix_share_files_files_key", "dataset", "consumer", "format", "data_version"),)
    id: Mapped[str] = id_column()
    dataset: Mapped[str] = mapped_column(String(256))
    consumer: Mapped[str] = mapped_column(String(128), index=True)
    format: Mapped[str] = mapped_column(String(8))
    data_version: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)  # the cached copy in the export area, if any
    rows: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sm3: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    anchor_id: Mapped[str | None] = mapped_column(String(32))
