"""What ``sql --explain`` may show to whom.

The physical SQL holds what a reader of masked data must not see: physical catalogs, schemas,
tables and columns, the row filters' text and the mask key. So only an admin, or a steward of
the department owning every table the query reads, sees it (with the key replaced by
``<mask key>``); anyone else sees their query over virtual names, views expanded, with each
masked column read as ``mask(column)`` and each row-filtered table as ``row_filter(table)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlglot import exp

from govfabric.catalog.read import owner_department_of
from govfabric.virtualization.models import VirtualTableRow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric
    from govfabric.virtualization.pipeline import PlannedQuery

#: First line of a placeholder explain: says what the placeholders stand for.
VIRTUAL_HEADER = "-- over virtual names: mask(column) is the column as masked for you, " \
                 "row_filter(table) the table's rows your row filters let through"


def may_see_physical(fabric: Fabric, tables: Iterable[str]) -> bool:
    """An admin, or a steward of the department owning every one of ``tables``."""
    actor = fabric.actor
    if "admin" in actor.roles:
        return True
    if "steward" not in actor.roles or not actor.department:
        return False
    names = set(tables)
    with fabric.store.session() as s:
        owners = dict(s.execute(select(VirtualTableRow.name, owner_department_of(VirtualTableRow.asset_id))
                                .where(VirtualTableRow.name.in_(names))).all())
    return all(owners.get(n) == actor.department for n in names)


def virtual_plan(fabric: Fabric, sql: str, dialect: str | None, engine: str) -> PlannedQuery:
    """``sql`` planned afresh as the acting principal, keeping the query over virtual names."""
    from govfabric.virtualization.pipeline import plan
    from govfabric.virtualization.tables import CatalogResolver

    with fabric.store.session() as s:
        policy = fabric.access.policy_for(fabric.actor, s)
        return plan(sql, dialect=dialect, engine=engine, resolver=CatalogResolver(s, [engine]), policy=policy,
                    keep_virtual=True)


def placeholder_sql(planned: PlannedQuery, engine: str) -> str:
    """The planned query over virtual names with ``mask(column)`` and ``row_filter(table)``."""
    root = planned.virtual_expression
    assert root is not None, "plan with keep_virtual=True"
    root = root.copy()
    by_alias: dict[str, str] = {}
    tables = [t for t in root.find_all(exp.Table) if t.args.get("db")]
    for table in tables:
        by_alias[table.alias_or_name] = f"{table.db}.{table.name}"
    for col in list(root.find_all(exp.Column)):
        vt = by_alias.get(col.table)
        if vt is not None and col.name in planned.masked_columns.get(vt, ()):
            col.replace(exp.Anonymous(this="mask", expressions=[col.copy()]))
    for table in tables:
        if f"{table.db}.{table.name}" in planned.row_filtered:
            bare = exp.Table(this=table.this.copy(), db=table.args["db"].copy())
            table.replace(exp.Table(this=exp.Anonymous(this="row_filter", expressions=[bare]),
                                    alias=table.args.get("alias")))
    return VIRTUAL_HEADER + "\n" + root.sql(dialect=engine)
