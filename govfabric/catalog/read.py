"""Reads of catalog rows for other modules, in the caller's session (so their transaction holds).

Other modules reach assets and sources only through these functions and :class:`Catalog`, never
through the catalog's tables (``tests/test_module_seams.py``). Lookups by primary key use the
session's identity map, so they cost no query when the row is already loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, select
from sqlalchemy.orm import QueryableAttribute, Session, selectinload

from govfabric.catalog.models import Asset, Source


def asset_by_id(s: Session, asset_id: str | None) -> Asset | None:
    """The asset with this id, or ``None``."""
    return s.get(Asset, asset_id) if asset_id is not None else None


def active_ids(s: Session, asset_ids: Iterable[str]) -> set[str]:
    """Those of ``asset_ids`` that are active assets (one query)."""
    wanted = list(dict.fromkeys(asset_ids))
    return set(s.scalars(select(Asset.id).where(Asset.id.in_(wanted), Asset.status == "active"))) if wanted else set()


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


def active_assets_of_source(s: Session, source_id: str, only: Iterable[str] | None = None) -> list[Asset]:
    """A source's active assets (``only`` those with these qualified names, if given), columns loaded,
    by qualified name."""
    return list(s.scalars(select(Asset).options(selectinload(Asset.columns))
                          .where(Asset.source_id == source_id, Asset.status == "active",
                                 *([Asset.qualified_name.in_(list(only))] if only is not None else []))
                          .order_by(Asset.qualified_name)))


def assets_with_columns_named(s: Session, names: list[str]) -> dict[str, Asset]:
    """Qualified name → asset, its columns loaded, for those of ``names`` that exist (one query)."""
    return {a.qualified_name: a for a in s.scalars(select(Asset).options(selectinload(Asset.columns))
                                                  .where(Asset.qualified_name.in_(names)))}


def asset_with_columns(s: Session, asset_id: str | None) -> Asset | None:
    """The asset with this id, its columns loaded, or ``None``."""
    return s.scalar(select(Asset).options(selectinload(Asset.columns)).where(Asset.id == asset_id))


@functools.cache
def _by_qualified_name() -> Select[Any]:
    a = Asset.__table__.c
    return select(a.qualified_name, a.id, a.owner_department).where(
        a.qualified_name.in_(bindparam("names", expanding=True)))


def ids_and_departments(s: Session, names: list[str]) -> list[tuple[str, str, str | None]]:
    """(qualified name, id, owning department) of the assets with these qualified names, in one Core
    query (an expanding parameter: the caller keeps ``names`` below the store's parameter limit)."""
    return list(s.connection().execute(_by_qualified_name(), {"names": names}).tuples())


def asset_ids_of_source(source_name: str) -> Select[Any]:
    """A SQL expression: ids of the assets harvested from the source named ``source_name``, so
    callers use it inside their one statement."""
    return select(Asset.id).join(Source, Source.id == Asset.source_id).where(Source.name == source_name)
