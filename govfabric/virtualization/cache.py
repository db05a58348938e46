"""What planning a query reads from the store, kept while it cannot have changed.

A plan is built from the catalog (virtual tables and views, the assets and sources they map)
and the acting principal's grants, masks and row filters. Every write to those tables (to any
catalog source, asset or column) bumps one counter, ``virt_generation.n``, in the writing
transaction — by database triggers (migration ``31c46094de46``), so writes from any process
and any code path count, bulk UPDATEs and plain SQL included. A query reads the counter first
(one primary-key lookup) and reuses only what was cached under the same value: a revoke
committed by anyone is seen by the next query.

Expiry is not a write: a cached policy or plan is used only until the earliest expiry of the
grants it was built from. The principal's own attributes (roles, department, attributes) are
part of every key, as the caller's ``Actor`` holds them.

Caching is off for a store whose triggers are not all there (a store not migrated by
govfabric, or a table rebuilt on SQLite after the migration, which drops its triggers).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from govfabric.store.base import utcnow
from govfabric.virtualization.models import PolicyGeneration

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor
    from govfabric.store.db import Store
    from govfabric.virtualization.engines.base import Binding
    from govfabric.virtualization.pipeline import PlannedQuery
    from govfabric.virtualization.policy import Policy, VirtualTable, VirtualView

#: the triggers migrations 31c46094de46 and 5b7e2d9c4a61 (principals, read by ``Fabric.actor``) create
#: (SQLite: one per table and operation)
WATCHED = ("virt_tables", "virt_views", "virt_grants", "virt_masks", "virt_row_filters", "catalog_sources",
           "catalog_assets", "catalog_columns", "auth_principals")
TRIGGERS = {
    "sqlite": frozenset(f"virt_gen_{t}_{o}" for t in WATCHED for o in ("insert", "update", "delete")),
    "postgresql": frozenset(f"virt_gen_{t}" for t in WATCHED),
}
_LIST_TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'virt_gen_%'",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'virt_gen_%'",
}
MAX_PLANS = 512  # a kept plan is ~10-50 kB (its SQL and lineage template)
_GENERATION = select(PolicyGeneration.__table__.c.n).where(PolicyGeneration.__table__.c.id == 1)
_GENERATION_SQL = "SELECT n FROM virt_generation WHERE id = 1"


def triggers_installed(session: Session) -> bool:
    """Whether every write this cache depends on bumps the generation in this store."""
    dialect = session.get_bind().dialect.name
    if dialect not in TRIGGERS:
        return False
    have = set(session.scalars(text(_LIST_TRIGGERS[dialect])))
    return TRIGGERS[dialect] <= have


def principal_key(actor: Actor) -> tuple[Any, ...]:
    """Everything of the acting principal a policy depends on. Kept for the last actor asked about:
    ``Fabric.actor`` hands out the same object while the store's change counter stands still, and
    every query asks (its attributes' JSON was a tenth of a cached plan's lookup)."""
    last = _last_principal
    if last[0] is actor:
        return last[1]
    key = (actor.name, tuple(sorted(actor.roles)), actor.department,
           json.dumps(actor.attributes, sort_keys=True, default=str))
    globals()["_last_principal"] = (actor, key)
    return key


_last_principal: tuple[Any, tuple[Any, ...]] = (None, ())


@dataclass
class Resolved:
    """A name looked up in the catalog: the object, and its binding if it is a table."""

    obj: VirtualTable | VirtualView
    binding: Binding | None


@dataclass
class CachedPlan:
    """A planned query (without its trees) with what running and recording it needs: the
    bindings the engine attaches and the query's OpenLineage event template
    (``events.query_template``), which each run completes."""

    planned: PlannedQuery
    bindings: list[Binding]
    until: datetime | None  # earliest expiry of the grants the plan was built from
    lineage: dict[str, Any]

    @property
    def asset_ids(self) -> list[str]:
        return [b.asset.id for b in self.bindings]


class PlanCache:
    """One store's cache. Everything in it belongs to one generation; reading another
    generation drops it all. Entries are filled only under the generation they were built
    from, so a result computed before a concurrent change is never kept after it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._plans: OrderedDict[tuple[Any, ...], CachedPlan] = OrderedDict()
        self._policies: dict[tuple[Any, ...], tuple[Policy, datetime | None]] = {}
        self._names: dict[str, dict[str, Resolved]] = {}

    def _at(self, generation: int) -> None:
        if generation != self._generation:
            self._generation = generation
            self._plans, self._policies, self._names = OrderedDict(), {}, {}

    def plan(self, generation: int, key: tuple[Any, ...]) -> CachedPlan | None:
        with self._lock:
            self._at(generation)
            hit = self._plans.get(key)
            if hit is None:
                return None
            if _expired(hit.until):
                del self._plans[key]
                return None
            self._plans.move_to_end(key)
            return hit

    def put_plan(self, generation: int, key: tuple[Any, ...], value: CachedPlan) -> None:
        with self._lock:
            if generation == self._generation:
                self._plans[key] = value
                while len(self._plans) > MAX_PLANS:
                    self._plans.popitem(last=False)

    def policy(self, generation: int, key: tuple[Any, ...]) -> tuple[Policy, datetime | None] | None:
        with self._lock:
            self._at(generation)
            hit = self._policies.get(key)
            return None if hit is None or _expired(hit[1]) else hit

    def put_policy(self, generation: int, key: tuple[Any, ...], value: tuple[Policy, datetime | None]) -> None:
        with self._lock:
            if generation == self._generation:
                self._policies[key] = value

    def names(self, generation: int, engine: str) -> dict[str, Resolved]:
        """The memo of resolved names for ``engine`` (a detached dict once the generation moves on)."""
        with self._lock:
            self._at(generation)
            return self._names.setdefault(engine, {})


def _expired(until: datetime | None) -> bool:
    return until is not None and utcnow() >= until


_caches: weakref.WeakKeyDictionary[Store, PlanCache | None] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def current(store: Store) -> tuple[PlanCache, int] | None:
    """The store's cache and the generation committed now, or None when caching is off.

    Read on a pooled connection outside any transaction (no write lock on SQLite, a fraction of
    a session's cost). Inside a transaction of the store there is no caching."""
    with _caches_lock:
        known = store in _caches
        cache = _caches.get(store)
    if not known:
        with store.session() as s:
            cache = PlanCache() if triggers_installed(s) else None
        with _caches_lock:
            cache = _caches.setdefault(store, cache)
    if cache is None:
        return None
    if store.current() is not None:
        # inside an open transaction its own uncommitted writes would have to count, and on
        # PostgreSQL the counter moves once per transaction (at its first watched write): plan afresh
        return None
    memo = store.call_memo()  # one read per call (``Store.call_scope``), emptied by the call's own commits
    if memo is not None and "generation" in memo:
        generation = memo["generation"]
        return None if generation is None else (cache, generation)
    generation = _shared_read(store) if store.dialect == "postgresql" else _read_generation(store)
    if memo is not None:
        memo["generation"] = generation
    return None if generation is None else (cache, generation)


class _SharedReads:
    """Reads of the counter shared by the calls that need one at the same time (PostgreSQL, where
    each is a round trip). A call may use any read that *started* after the call asked — it sees
    every commit made before the call began, as its own read would — so while one read is in
    flight, the calls arriving meanwhile wait for it to end and share the next one: under load one
    round trip answers many calls instead of one each (the read, its pooled connection's checkout
    and the server's work were a tenth of a service call)."""

    __slots__ = ("_cv", "_done", "_reading", "_started", "_value")

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._started = self._done = 0  # reads started; the last one finished (they run one at a time)
        self._reading = False
        self._value: int | None = None

    def read(self, store: Store) -> int | None:
        with self._cv:
            need = self._started + 1  # the first read to start from now on will do, or any later one
            while self._done < need:
                if not self._reading:  # nobody reading: this call reads, for itself and whoever waits
                    self._reading = True
                    self._started += 1
                    mine = self._started
                    break
                self._cv.wait()  # a read that started before this call: wait for the one after it
            else:
                return self._value
        try:
            value = _read_generation(store)
        except BaseException:
            with self._cv:
                self._reading = False  # a waiting call reads for itself
                self._cv.notify_all()
            raise
        with self._cv:
            self._value, self._done, self._reading = value, mine, False
            self._cv.notify_all()
        return value


_shared: weakref.WeakKeyDictionary[Store, _SharedReads] = weakref.WeakKeyDictionary()


def _shared_read(store: Store) -> int | None:
    found = _shared.get(store)
    if found is None:
        with _caches_lock:
            found = _shared.setdefault(store, _SharedReads())
    return found.read(store)


def _read_generation(store: Store) -> int | None:
    """One round trip: on PostgreSQL in autocommit (no BEGIN before it, no ROLLBACK when the
    connection goes back to the pool); SQLite connections run in autocommit already."""
    conn = store.engine.raw_connection()
    pg = store.dialect == "postgresql"
    driver: Any = conn.driver_connection  # psycopg's connection on PostgreSQL
    try:
        if pg:
            driver.autocommit = True  # idle at checkout: a local switch, no statement
        try:
            cur = conn.cursor()
            cur.execute(_GENERATION_SQL)
            row = cur.fetchone()
            cur.close()
        finally:
            if pg:
                driver.autocommit = False
    finally:
        conn.close()
    return row[0] if row else None


def bump(session: Session) -> None:
    """Move the generation in the writing transaction, for a write to a table the triggers do not
    watch whose readers keep what they read under the generation (query services, app credentials)."""
    session.execute(text("UPDATE virt_generation SET n = n + 1 WHERE id = 1"))


def forget(store: Store) -> None:
    """Drop a store's cache, as a write would (benchmarks time planning from scratch)."""
    with _caches_lock:
        _caches.pop(store, None)
