"""Tables of the catalog: sources, assets and their columns, versions, usage,
favourites, notifications and searches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from govfabric.errors import GovfabricError, ValidationFailed
from govfabric.store.base import Base, id_column, utcnow


class Source(Base):
    """A department's system or file location that govfabric reads in place."""

    __tablename__ = "catalog_sources"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    uri: Mapped[str] = mapped_column(Text)  # never contains a password
    secret: Mapped[str | None] = mapped_column(Text)  # "env:NAME" or a Fernet token
    options: Mapped[dict] = mapped_column(default=dict)
    department: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_harvest_at: Mapped[datetime | None] = mapped_column()
    harvest_lock: Mapped[str | None] = mapped_column(String(64))
    harvest_lock_at: Mapped[datetime | None] = mapped_column()


class Asset(Base):
    """One data asset (table, view, file, sheet) with its classification (§8.4.1.3, §8.4.4.2c)."""

    __tablename__ = "catalog_assets"

    id: Mapped[str] = id_column()
    qualified_name: Mapped[str] = mapped_column(String(512), unique=True)
    source_id: Mapped[str | None] = mapped_column(ForeignKey("catalog_sources.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    cn_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    asset_type: Mapped[str] = mapped_column(String(32), default="table")
    owner_department: Mapped[str | None] = mapped_column(String(256), index=True)
    level: Mapped[str | None] = mapped_column(String(32), index=True)
    theme: Mapped[str | None] = mapped_column(String(128), index=True)
    data_domain: Mapped[str | None] = mapped_column(String(64), index=True)
    thematic_library: Mapped[str | None] = mapped_column(String(64), index=True)
    dimensions: Mapped[list] = mapped_column(default=list)
    business_value: Mapped[str | None] = mapped_column(String(32))
    sharing_class: Mapped[str | None] = mapped_column(String(32), index=True)
    open_class: Mapped[str | None] = mapped_column(String(32), index=True)
    update_frequency: Mapped[str | None] = mapped_column(String(32))
    last_updated_at: Mapped[datetime | None] = mapped_column()
    content_signature: Mapped[str | None] = mapped_column(String(128))
    signature_algo: Mapped[str | None] = mapped_column(String(16))
    location: Mapped[dict] = mapped_column(default=dict)
    caliber: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(default=list)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="active")
    registered_via: Mapped[str] = mapped_column(String(16), default="harvest")
    structure_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    columns: Mapped[list[AssetColumn]] = relationship(
        back_populates="asset", order_by="AssetColumn.position", cascade="all, delete-orphan"
    )

    def require_columns(self, names: Iterable[str], error: type[GovfabricError] = ValidationFailed) -> None:
        """Raise ``error`` naming every one of ``names`` the asset lacks, and the columns it has."""
        have = [c.name for c in self.columns]
        missing = [n for n in names if n not in have]
        if missing:
            raise error(f"{self.qualified_name} has no column {', '.join(repr(m) for m in missing)}; "
                        f"columns: {', '.join(have)}")


#: compared byte by byte on PostgreSQL too, so that a name prefix is a range of its index
_BYTEWISE = Text().with_variant(Text(collation="C"), "postgresql")


class SearchEntry(Base):
    """An active asset's row in the search index, kept by ``search_index``: its lower-cased names,
    description and whole document, and on PostgreSQL the tokens a GIN index looks up (SQLite keeps
    them in the FTS5 table ``catalog_search_fts_grams``, whose rowids are these ids)."""

    __tablename__ = "catalog_search_entries"
    __table_args__ = (Index("ix_catalog_search_entries_tokens", "tokens", postgresql_using="gin",
                            sqlite_where=text("0")),  # no index on SQLite, where tokens stay empty
                      {"sqlite_autoincrement": True})  # an id is never reused: FTS5 rows may outlive entries

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("catalog_assets.id", ondelete="CASCADE"), unique=True)
    qualified_name: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(_BYTEWISE, index=True)
    cn: Mapped[str] = mapped_column(_BYTEWISE, index=True)
    descr: Mapped[str] = mapped_column(Text)
    doc: Mapped[str] = mapped_column(Text)
    #: compared byte by byte (migration 7c3f9a1e5d28): tokens are only looked up by equality, and the GIN
    #: index's keys compared under the database's collation cost a quarter of a large harvest's indexing
    tokens: Mapped[list[str] | None] = mapped_column(Text().with_variant(ARRAY(Text(collation="C")), "postgresql"))


class AssetColumn(Base):
    __tablename__ = "catalog_columns"
    __table_args__ = (UniqueConstraint("asset_id", "name"),)

    id: Mapped[str] = id_column()
    # no index of its own: the unique (asset_id, name) index serves lookups by asset (migration 4d7e1b2c9a05)
    asset_id: Mapped[str] = mapped_column(ForeignKey("catalog_assets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    cn_name: Mapped[str | None] = mapped_column(String(256))
    data_type: Mapped[str] = mapped_column(String(128))
    nullable: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list] = mapped_column(default=list)

    asset: Mapped[Asset] = relationship(back_populates="columns")


class AssetVersion(Base):
    """A recorded structure of an asset; a new one on every detected change."""

    __tablename__ = "catalog_asset_versions"
    __table_args__ = (UniqueConstraint("asset_id", "version"),)

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(ForeignKey("catalog_assets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    structure: Mapped[list] = mapped_column(default=list)
    structure_hash: Mapped[str] = mapped_column(String(64))
    diff: Mapped[dict] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Usage(Base):
    """How often a principal used (queried) or was distributed an asset (§8.4.1.4)."""

    __tablename__ = "catalog_usage"
    __table_args__ = (UniqueConstraint("asset_id", "principal", "kind"),)

    id: Mapped[str] = id_column()
    asset_id: Mapped[str] = mapped_column(ForeignKey("catalog_assets.id", ondelete="CASCADE"), index=True)
    principal: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # "use" | "distribution"
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class Favourite(Base):
    __tablename__ = "catalog_favourites"
    __table_args__ = (UniqueConstraint("principal", "asset_id"),)

    id: Mapped[str] = id_column()
    principal: Mapped[str] = mapped_column(String(128), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("catalog_assets.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something a consumer must hear about, e.g. a schema change of an asset they use."""

    __tablename__ = "catalog_notifications"

    id: Mapped[str] = id_column()
    recipient: Mapped[str] = mapped_column(String(128), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()


class SearchLog(Base):
    __tablename__ = "catalog_searches"
    __table_args__ = (Index("ix_catalog_searches_principal_at", "principal", "at"),)

    id: Mapped[str] = id_column()
    principal: Mapped[str] = mapped_column(String(128))
    query: Mapped[str] = mapped_column(String(256), index=True)
    results: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
