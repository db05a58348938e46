"""Usage statistics, favourites and consumer notifications (§8.4.1.4, §8.4.1.5).

Later modules record use through :func:`record_usage` (a query read the asset, a
share distributed it) and may add where consumers come from (e.g. grantees) with
:func:`register_consumer_source`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, func, insert, literal_column, select, union, union_all, update
from sqlalchemy import cast as sa_cast
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, Favourite, Notification, Usage
from govfabric.store.base import new_id, utcnow
from govfabric.store.db import gather, gathering
from govfabric.store.prepared import Prepared

USAGE_KINDS = ("use", "distribution")
ConsumerSource = Callable[[Session, list[str]], dict[str, set[str]]]
_consumer_sources: list[ConsumerSource] = []


def register_consumer_source(fn: ConsumerSource) -> None:
    """Add a function that names further consumers (principals) of assets."""
    if fn not in _consumer_sources:
        _consumer_sources.append(fn)


def _values(dialect: str, param: str) -> Any:
    """The strings of a JSON array bound as one parameter, as a subquery: thousands of ids cost one
    bind (an expanding ``IN`` binds and coerces each one)."""
    p = bindparam(param, type_=String)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        fn = func.jsonb_array_elements_text(sa_cast(p, JSONB))
    else:
        fn = func.json_each(p)
    return select(fn.table_valued("value").c.value)


_STMTS: dict[tuple[str, str], Any] = {}


def _stmt(dialect: str, which: str) -> Any:
    """Statements built once per dialect (lineage impact asks about ~1,000 assets a call)."""
    key = (dialect, which)
    if key not in _STMTS:
        tables = (Favourite.__table__.c, Usage.__table__.c)
        ids = _values(dialect, "ids")
        if which == "pairs":
            stmt: Any = union_all(*(select(t.principal, t.asset_id).where(t.asset_id.in_(ids)) for t in tables))
        else:  # distinct departments of the named assets, distinct consumers of those and of the ids
            a = Asset.__table__.c
            named = a.qualified_name.in_(_values(dialect, "names"))
            stmt = union(
                select(literal_column("'d'"), a.owner_department).where(named, a.owner_department.is_not(None)),
                *(select(literal_column("'c'"), t.principal).where(t.asset_id.in_(ids) | t.asset_id.in_(select(a.id)
                                                                                                .where(named)))
                  for t in tables))
        _STMTS[key] = stmt
    return _STMTS[key]


def consumers_of(session: Session, asset_ids: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {a: set() for a in asset_ids}
    if asset_ids:
        stmt = _stmt(session.get_bind().dialect.name, "pairs")
        for principal, aid in session.execute(stmt, {"ids": json.dumps(asset_ids)}):
            out[aid].add(principal)
    for fn in _consumer_sources:
        for aid, who in fn(session, asset_ids).items():
            out.setdefault(aid, set()).update(who)
    return out


def departments_and_consumers(session: Session, qualified_names: list[str], asset_ids: list[str]
                              ) -> tuple[set[str], set[str]]:
    """The owning departments of the assets named, and every consumer of those and of ``asset_ids``, in
    one query that returns each principal and department once (a summary over thousands of assets,
    where :func:`consumers_of` would return a row per asset and principal)."""
    depts: set[str] = set()
    who: set[str] = set()
    if not qualified_names and not asset_ids:
        return depts, who
    stmt = _stmt(session.get_bind().dialect.name, "distinct")
    for tag, value in session.execute(stmt, {"ids": json.dumps(asset_ids), "names": json.dumps(qualified_names)}):
        (depts if tag == "d" else who).add(value)
    if _consumer_sources:
        from govfabric.catalog.read import ids_and_departments

        ids = [*asset_ids, *(aid for _, aid, _ in ids_and_departments(session, qualified_names))]
        for fn in _consumer_sources:
            for found in fn(session, ids).values():
                who.update(found)
    return depts, who


def notify_consumers(session: Session, messages: dict[str, tuple[str, dict[str, Any]]], kind: str) -> int:
    """One notification per (consumer, asset); returns how many were written."""
    consumers = consumers_of(session, list(messages))
    n = 0
    for aid, (message, payload) in messages.items():
        for who in sorted(consumers.get(aid, ())):
            session.add(Notification(recipient=who, asset_id=aid, kind=kind, message=message, payload=payload))
            n += 1
    return n


def record_usage(session: Session, asset_ids: list[str], principal: str, kind: str = "use",
                 count: int = 1) -> None:
    if kind not in USAGE_KINDS:
        raise ValueError(f"usage kind must be one of {USAGE_KINDS}")
    now = utcnow()
    ids = sorted(set(asset_ids))  # one lock order for concurrent callers
    if not ids:
        return
    t = cast(Table, Usage.__table__)
    # plain statements, not ORM objects: this runs with every query, and an increment in the
    # statement (count + n) cannot lose a concurrent one
    upsert = _upsert(session.get_bind().dialect.name)
    if upsert is not None:  # one statement, no answer to wait for (it may be pipelined)
        rows = [{"id": new_id(), "asset_id": a, "principal": principal, "kind": kind, "count": count,
                 "last_at": now} for a in ids]
        if gathering(session):  # the deferred writer's: one row per asset and principal a batch
            for row in rows:
                gather(session, upsert, row, key=(row["asset_id"], principal, kind), merge=_added)
        else:
            upsert.run(session, rows)
        return
    mine = (t.c.principal == principal) & (t.c.kind == kind)
    have = set(session.execute(update(t).where(t.c.asset_id.in_(ids), mine)
                               .values(count=t.c.count + count, last_at=now).returning(t.c.asset_id)).scalars())
    missing = [a for a in ids if a not in have]
    if missing:
        session.execute(insert(t), [{"id": new_id(), "asset_id": a, "principal": principal, "kind": kind,
                                     "count": count, "last_at": now} for a in missing])


def _added(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two usage rows of one asset, principal and kind as one: counts added, the later time."""
    return {**old, "count": old["count"] + new["count"], "last_at": max(old["last_at"], new["last_at"])}


_UPSERTS: dict[str, Prepared | None] = {}


def _upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (asset, principal, kind) DO UPDATE SET count = count + excluded.count``
    for the dialect, built once (a statement built per call costs more to compile than to run);
    None where there is no such statement (MySQL/MariaDB: update, then insert what is missing)."""
    if dialect not in _UPSERTS:
        from sqlalchemy.dialects import postgresql, sqlite

        inserts: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
        if dialect not in inserts:
            return None
        t = cast(Table, Usage.__table__)
        stmt = inserts[dialect](t)
        _UPSERTS[dialect] = Prepared(stmt.on_conflict_do_update(
            index_elements=[t.c.asset_id, t.c.principal, t.c.kind],
            set_={"count": t.c.count + stmt.excluded["count"], "last_at": stmt.excluded.last_at}))
    return _UPSERTS[dialect]
