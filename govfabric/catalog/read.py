"""Reads of catalog rows for other modules, in the caller's session (so their transaction holds).

Other modules reach assets and sources only through these functions and :class:`Catalog`, never
through the catalog's tables (``tests/test_module_seams.py``). Lookups by primary key use the
session's identity map, so they cost no query when the row is already loaded.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, ScalarSelect, Select, select
from sqlalchemy.orm import QueryableAttribute, Session, selectinload

from govfabric.catalog.models import Asset, Source


def asset_by_id(s: Session, asset_id: str | None) -> Asset | None:
    """The asset with this id, or ``None``."""
    return s.get(Asset, asset_id) if asset_id is not None else None


def source_by_id(s: Session, source_id: str | None) -> Source | None:
    """The source with this id, or ``None``."""
    return s.get(Source, source_id) if source_id is not None else None


def source_of(s: Session, asset: Asset) -> Source | None:
    """The source an asset was harvested from (``None``: registered by hand)."""
    return source_by_id(s, asset.source_id)


def active_assets_with_columns(s: Session) -> list[Asset]:
    """Every active asset, its columns loaded in one more query."""
    return list(s.scalars(select(Asset).options(selectinload(Asset.columns)).where(Asset.status == "active")))


def owner_department_of(asset_id: ColumnElement[str] | QueryableAttribute[str]) -> ScalarSelect[str | None]:
    """A correlated SQL expression: the owning department of the asset ``asset_id`` names (NULL
    when there is none), so callers filter or list their own rows by owner in their one query."""
    return select(Asset.owner_department).where(Asset.id == asset_id).scalar_subquery()


def qualified_name_of(asset_id: ColumnElement[str] | QueryableAttribute[str]) -> ScalarSelect[str]:
    """A correlated SQL expression: the qualified name of the asset ``asset_id`` names (NULL when
    there is none)."""
    return select(Asset.qualified_name).where(Asset.id == asset_id).scalar_subquery()


def asset_ids_of_source(source_name: str) -> Select[tuple[str]]:
    """A SQL expression: ids of the assets harvested from the source named ``source_name``, so
    callers use it inside their one statement."""
    return select(Asset.id).join(Source, Source.id == Asset.source_id).where(Source.name == source_name)
