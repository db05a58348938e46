"""Reads of virtual tables, views and masks for other modules, in the caller's session.

Other modules reach virtualization rows only through these functions and the façade's services,
never through its tables (``tests/test_module_seams.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from govfabric.virtualization.models import AccessRequest, ColumnMask, Grant, VirtualTableRow, VirtualViewRow


def table_names_over(s: Session, asset_id: str) -> list[str]:
    """Names of the virtual tables mapping the asset."""
    return list(s.scalars(select(VirtualTableRow.name).where(VirtualTableRow.asset_id == asset_id)))


def views_reading(s: Session, names: Iterable[str]) -> list[str]:
    """Names of the views that depend on any of ``names`` directly, sorted."""
    wanted = set(names)
    return sorted({v.name for v in s.scalars(select(VirtualViewRow)) if set(v.depends_on or []) & wanted})


def masked_virtual_columns(s: Session, asset_id: str) -> list[dict[str, Any]]:
    """The column mappings (``{"name", "physical" | "expr", …}``) of every virtual table over the
    asset whose virtual column carries a mask."""
    out: list[dict[str, Any]] = []
    for vt in s.scalars(select(VirtualTableRow).where(VirtualTableRow.asset_id == asset_id)):
        masked = set(s.scalars(select(ColumnMask.column_name).where(ColumnMask.table_name == vt.name)))
        out += [vcol for vcol in vt.columns or [] if str(vcol.get("name", "")).lower() in masked]
    return out


def view_dependencies(s: Session, names: Iterable[str]) -> dict[str, list[str]]:
    """View name -> what it reads (tables and views, from its definition), for the views among
    ``names`` (one query)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    return {v.name: list(v.depends_on or []) for v in
            s.scalars(select(VirtualViewRow).where(VirtualViewRow.name.in_(wanted)))}


def table_names_over_assets(asset_ids: Select[Any]) -> Select[Any]:
    """A SQL expression: names of the virtual tables mapping any asset ``asset_ids`` selects, so
    callers use it inside their one statement."""
    return select(VirtualTableRow.name).where(VirtualTableRow.asset_id.in_(asset_ids))


@dataclass(frozen=True)
class Definition:
    """What a virtual table or view is defined as: enough to own it and to version what it yields."""

    kind: Literal["table", "view"]
    name: str
    version: int
    definition: Any  # a table's column mappings, a view's SQL
    asset_id: str | None  # a table's asset
    created_by: str | None  # a view's creator (its owner is the creator's department)


def definition(s: Session, name: str) -> Definition | None:
    """The virtual table or view named ``name`` (tables first), or None."""
    vt = s.scalar(select(VirtualTableRow).where(VirtualTableRow.name == name))
    if vt is not None:
        return Definition("table", vt.name, vt.version, vt.columns, vt.asset_id, None)
    view = s.scalar(select(VirtualViewRow).where(VirtualViewRow.name == name))
    if view is not None:
        return Definition("view", view.name, view.version, view.sql, None, view.created_by)
    return None


def table_names(s: Session) -> list[str]:
    """Names of every virtual table."""
    return list(s.scalars(select(VirtualTableRow.name)))


def table_creators(s: Session) -> list[tuple[str, str, str]]:
    """(name, creator, asset id) of every virtual table, in one Core query (no per-row ORM work)."""
    t = VirtualTableRow.__table__.c
    return list(s.connection().execute(select(t.name, t.created_by, t.asset_id)).tuples())


def view_creators(s: Session) -> list[tuple[str, str]]:
    """(name, creator) of every view, in one Core query."""
    v = VirtualViewRow.__table__.c
    return list(s.connection().execute(select(v.name, v.created_by)).tuples())


def access_request_states(s: Session, ids: Iterable[int]) -> dict[int, tuple[str, Any, Any, int | None]]:
    """Access request id -> (status, created_at, decided_at, grant id), for ``ids`` (one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    r = AccessRequest.__table__.c
    rows = s.connection().execute(select(r.id, r.status, r.created_at, r.decided_at, r.grant_id)
                                  .where(r.id.in_(wanted)))
    return {i: (st, c, d, g) for i, st, c, d, g in rows}


def active_grant_ids(s: Session, ids: Iterable[int]) -> list[int]:
    """Those of the grants ``ids`` not revoked (expiry aside), in one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    g = Grant.__table__.c
    return list(s.scalars(select(g.id).where(g.id.in_(wanted), g.revoked_at.is_(None))))
