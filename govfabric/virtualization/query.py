"""Run virtual SQL: plan (pipeline) → execute (engine) → record (usage, audit, query log).

Every query — answered, refused or failed — is recorded: the monitoring view and the
auditors read the same records.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import func, select

from govfabric import hooks
from govfabric.auth.audit import Entry, Row, append_many, head_was_unread, may_skip_head_read, take_owed
from govfabric.auth.readpath import reads_source_data
from govfabric.auth.request_context import request_id
from govfabric.errors import AccessDenied, GovfabricError, QueryRejected
from govfabric.store.db import NeedsTransaction
from govfabric.store.prepared import Prepared
from govfabric.virtualization import cache
from govfabric.virtualization.cache import CachedPlan
from govfabric.virtualization.engines import REGISTRY, Binding, Engine, engine_class
from govfabric.virtualization.models import QueryLog
from govfabric.virtualization.pipeline import PlannedQuery, plan
from govfabric.virtualization.tables import CatalogResolver
from govfabric.virtualization.validate import Limits, check_deadline, limits

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.fabric import Fabric
    from govfabric.store.db import Store

    #: a caller's addition to the transaction recording a query: (transaction, status, rows) → audit
    #: events to append in one batch with the query's own (its chain links written together). The
    #: transaction may be pipelined and is usually write-only (``store.db.WriteOnly``: no ORM session,
    #: which cost a service call ~0.2 ms): it may write fixed statements (``store/prepared.py``), not read
    RecordWith = Callable[[Any, str, int | None], list[Entry] | None]


#: what in an engine's error text can be a data value: quoted literals, long digit runs, CJK runs
_VALUE_IN_ERROR = re.compile(r"'(?:[^']|'')*'|\d{4,}|[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]{2,}")


def scrub_error(error: str | None) -> str | None:
    """An error text fit for the query log and the audit trail, which others read: the kind and the
    message with every value replaced by ``?`` (DuckDB: "Could not convert string '1101…' to INT32")."""
    if not error:
        return error
    return _VALUE_IN_ERROR.sub("?", error)[:500]


class Recorder:
    """Group commit of query recordings on one store: the recordings of queries finishing while one
    group's transaction runs wait, and the next of them writes them all in one transaction — one
    lock of the audit chain's head and one COMMIT for many queries instead of one each, the head
    lock being what concurrent service calls queued on. Each caller returns only once its own
    recording committed (durability as before) or raises its own error: a failed group is written
    again one recording at a time, so one bad recording never loses the others'. Each event keeps
    its own request's id (read in the caller's thread, not the writer's)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Job] = []
        self._cv = threading.Condition()
        self._writing = False  # a group's transaction is running

    def record(self, write: Callable[[Session], tuple[list[Entry], list[Row]]], *, session_free: bool = False,
               writes_nothing: bool = False) -> None:
        """``write``: a recording's writes; it returns its audit events and its INSERT rows (the query
        log's), which ``audit.append_many`` writes with them (in one statement when it can).
        ``session_free``: ``write`` uses only what a :class:`~govfabric.store.db.WriteOnly`
        transaction offers (no ORM); a group of such recordings commits without a session.
        ``writes_nothing``: nor does it run statements of its own (all it writes is what it returns),
        so a group of such recordings may be one statement in autocommit (``write_only(single=True)``)."""
        job = _Job(write, request_id.get(), session_free, session_free and writes_nothing)
        group: list[_Job] | None = None
        with self._cv:
            self._queue.append(job)
            while not job.done:
                if not self._writing:  # this caller writes what is queued, its own recording included
                    self._writing = True
                    group, self._queue = self._queue, []
                    break
                self._cv.wait()  # woken when a group ends: written in it, or the next writer
        if group is not None:
            try:
                self._write(group)
            finally:
                with self._cv:
                    self._writing = False
                    self._cv.notify_all()
        if job.error is not None:
            raise job.error

    def _write(self, group: list[_Job]) -> None:
        token = request_id.set(None)  # every event carries its own caller's request id, or none
        try:
            try:
                self._commit(group)
                return
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    return
            for job in group:
                try:
                    self._commit([job])
                except Exception as exc:
                    job.error = exc
        finally:
            request_id.reset(token)
            for job in group:
                if not job.committed and job.error is None:  # interrupted (BaseException): never silent
                    job.error = QueryRejected("recording the query was interrupted; run it again")
                job.done = True

    def _commit(self, group: list[_Job], *, unread_head: bool = True, single: bool = True) -> None:
        """One transaction for the group. It may move the audit head unread (one round trip on
        PostgreSQL, ``audit.may_skip_head_read``); if that is why it failed, it runs once more
        reading the head: the transaction rolled back whole, so nothing is written twice. When every
        recording's writes are the rows it returns and the head moves unread, the whole group is
        that one statement in autocommit; if the audit must read the head first (``NeedsTransaction``,
        raised before anything ran), it runs again as a transaction."""
        # the writes see a session either way (a ``WriteOnly`` offers what session-free ones use)
        one = single and unread_head and all(j.rows_only for j in group)
        tx: AbstractContextManager[Any] = (self.store.write_only(single=one) if all(j.session_free for j in group)
                                           else self.store.session(pipelined=True))
        info: dict[str, Any] = {}
        try:
            with tx as s:
                info = s.info
                if unread_head:
                    may_skip_head_read(info)
                entries: list[Entry] = []
                rows: list[Row] = []
                for job in group:
                    events, inserts = job.write(s)
                    rows.extend(inserts)
                    for actor, action, target, details in events:
                        if job.request_id is not None:
                            details = {"request_id": job.request_id, **(details or {})}
                        entries.append((actor, action, target, details))
                append_many(s, entries, rows)
        except NeedsTransaction:
            if not one:
                raise
            self._commit(group, unread_head=unread_head, single=False)  # nothing was written
            return
        except Exception:
            if not head_was_unread(info):
                raise
            self._commit(group, unread_head=False)
            return
        for job in group:
            job.committed = True


class _Job:
    __slots__ = ("committed", "done", "error", "request_id", "rows_only", "session_free", "write")

    def __init__(self, write: Callable[[Session], tuple[list[Entry], list[Row]]], rid: str | None,
                 session_free: bool, rows_only: bool) -> None:
        self.write, self.request_id, self.session_free, self.rows_only = write, rid, session_free, rows_only
        self.done = self.committed = False
        self.error: BaseException | None = None


_recorders: weakref.WeakKeyDictionary[Store, Recorder] = weakref.WeakKeyDictionary()
_recorders_lock = threading.Lock()


def recorder(store: Store) -> Recorder:
    """The store's :class:`Recorder` (one per store in the process)."""
    found = _recorders.get(store)
    if found is None:
        with _recorders_lock:
            found = _recorders.setdefault(store, Recorder(store))
    return found


#: the engine choice that runs a query on its one source database when it can (``engine_for``)
AUTO = "auto"
DIRECT = "direct"


class QueryService:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self._engines: dict[str, Engine] = {}

    def engine(self, name: str | None = None) -> Engine:
        name = name or self.fabric.settings.default_engine
        if name not in self._engines:
            self._engines[name] = engine_class(name).for_fabric(self.fabric)
        return self._engines[name]

    def plan(self, sql: str, *, dialect: str | None = None, engine: str | None = None, params: int = 0
             ) -> tuple[PlannedQuery, list[Binding]]:
        """Plan ``sql`` as the acting principal (its trees dropped, see ``PlannedQuery``);
        ``params``: the number of its ``?`` placeholders."""
        cached = self._plan(sql, dialect, self._choose(sql, dialect, engine, params), params)
        return cached.planned, cached.bindings

    def engine_for(self, sql: str, dialect: str | None = None, params: int = 0) -> str:
        """``direct`` when the whole query can run on the one source database its tables live in
        with the same result (the plan is cached for it), else the workspace's default engine."""
        try:
            self._plan(sql, dialect, DIRECT, params)
        except GovfabricError:  # NotDirect, or refused/denied: the default engine says so and records it
            return self.fabric.settings.default_engine
        return DIRECT

    def _choose(self, sql: str, dialect: str | None, engine: str | None, params: int = 0) -> str:
        name = engine or self.fabric.settings.default_engine
        return self.engine_for(sql, dialect, params) if name == AUTO else name

    def _plan(self, sql: str, dialect: str | None, ename: str, params: int = 0) -> CachedPlan:
        """The plan from the store's cache when nothing it was built from changed (``cache.py``),
        else planned afresh — with names and the policy from the cache where they still hold —
        together with its lineage event template. Planning runs under the size limits and within
        the query timeout (it is part of the query's time)."""
        from govfabric.governance.lineage.events import namespace

        actor = self.fabric.actor
        who = cache.principal_key(actor)
        key = (who, namespace(self.fabric), ename, (dialect or "duckdb").lower(), sql, params)
        found = cache.current(self.fabric.store)
        if found is not None:
            hit = found[0].plan(found[1], key)
            if hit is not None:  # nothing is planned: no limits or planning deadline to set up
                return hit
        settings = self.fabric.settings
        with limits(Limits.from_settings(settings), timeout_s=settings.query_timeout_s):
            return self._plan_within(sql, dialect, ename, actor, key, found)

    def _plan_within(self, sql: str, dialect: str | None, ename: str, actor: Any, key: tuple[Any, ...],
                     found: tuple[Any, int] | None) -> CachedPlan:
        who, params = key[0], key[5]
        policy_until, memo = None, None
        if found is not None:
            store_cache, gen = found
            policy_until, memo = store_cache.policy(gen, who), store_cache.names(gen, ename)
        target = engine_class(ename).PLANS_AS or ename  # the pipeline engine the plan is built for
        with self.fabric.store.session() as s:  # reads what the generation read covers, or newer
            if policy_until is None:
                policy_until = self.fabric.access.policy_until(actor, s)
                if found is not None:
                    store_cache.put_policy(gen, who, policy_until)
            policy, until = policy_until
            resolver = CatalogResolver(s, [target], memo)
            planned = plan(sql, dialect=dialect, engine=target, resolver=resolver, policy=policy, keep_virtual=True,
                           params=params)
            bindings = [resolver.bindings[t] for t in planned.tables_used if t in resolver.bindings]
        if target != ename:
            try:
                planned = self.engine(ename).retarget(planned, bindings)
            except QueryRejected:  # kept for the target: a refused query falls back to it without replanning
                self._keep(sql, planned, bindings, until, found, (*key[:2], target, *key[3:]))
                raise
        return self._keep(sql, planned, bindings, until, found, key)

    def _keep(self, sql: str, planned: PlannedQuery, bindings: list[Binding], until: Any,
              found: tuple[Any, int] | None, key: tuple[Any, ...]) -> CachedPlan:
        """The plan with its lineage template, in the store's cache when there is one."""
        from govfabric.governance.lineage.events import query_template

        check_deadline()
        lineage = query_template(self.fabric, sql, planned, planned.dialect)
        check_deadline()
        result = CachedPlan(replace(planned, expression=None, virtual_expression=None), bindings, until, lineage)
        if found is not None:
            found[0].put_plan(found[1], key, result)
        return result

    @reads_source_data("sql", via="pipeline")
    def stream(self, sql: str, *, dialect: str | None = None, engine: str | None = None,
               row_limit: int | None = None, record_with: RecordWith | None = None, params: Sequence[Any] = ()
               ) -> Iterator[pa.RecordBatch]:
        """Arrow batches of the answer; the query is recorded when the stream ends. ``engine="auto"``
        runs it on its source database when it can (:meth:`engine_for`).

        ``params`` are the values of the query's ``?`` placeholders, bound by the engine as typed
        parameters: the plan (authorised and policy-rewritten for the acting principal) is cached by
        the text with its placeholders, so a new value reuses it instead of planning again.

        ``row_limit`` replaces ``query_row_limit`` for exports (``export_row_limit``), never to
        loosen interactive queries. ``record_with(transaction, status, rows)`` runs inside the
        transaction that records the query, so a caller's own audit event (a query service
        call's) is durable together with the data-access record, in one commit."""
        t0 = time.perf_counter()
        with self.fabric.store.call_scope():  # the change counter read once for the whole planning
            ename = self._choose(sql, dialect, engine, len(params))
            try:
                cached = self._plan(sql, dialect, ename, len(params))
            except (QueryRejected, AccessDenied) as exc:
                self._record(ename, sql, None, "denied" if isinstance(exc, AccessDenied) else "rejected", str(exc),
                             None, t0, record_with)
                raise
        planned = cached.planned
        eng = self.engine(ename)
        rows = 0
        try:
            eng.prepare(cached.bindings)
            settings = self.fabric.settings
            # the timeout covers planning too: the engine gets what is left (to 0.1 s, so that a
            # Trino session keeps its setting from one cached query to the next)
            left = max(0.1, math.ceil((settings.query_timeout_s - (time.perf_counter() - t0)) * 10) / 10)
            limit = settings.query_row_limit if row_limit is None else row_limit
            for batch in eng.stream(planned.sql, timeout_s=left, row_limit=limit, params=params):
                rows += batch.num_rows
                yield batch
        except GovfabricError as exc:
            eng.stats.errors += 1
            eng.stats.last_error = str(exc)
            self._record(ename, sql, cached, "error", str(exc), rows, t0, record_with)
            raise
        except Exception as exc:
            eng.stats.errors += 1
            eng.stats.last_error = str(exc).splitlines()[0]
            self._record(ename, sql, cached, "error", str(exc).splitlines()[0], rows, t0, record_with)
            raise QueryRejected(f"the engine failed: {str(exc).splitlines()[0]}") from exc
        eng.stats.queries += 1
        self._record(ename, sql, cached, "ok", None, rows, t0, record_with)

    def sql(self, sql: str, *, dialect: str | None = None, engine: str | None = None,
            params: Sequence[Any] = ()) -> pa.Table:
        batches = list(self.stream(sql, dialect=dialect, engine=engine, params=params))
        if batches:
            return pa.Table.from_batches(batches)
        planned, _ = self.plan(sql, dialect=dialect, engine=engine, params=len(params))
        return pa.table({c: pa.array([], pa.null()) for c in planned.output_columns})

    def explain(self, sql: str, *, dialect: str | None = None, engines: list[str] | None = None) -> dict[str, str]:
        """Per engine: the physical SQL (mask key as ``<mask key>``) for an admin or the steward
        owning every table read; for anyone else the query over virtual names with ``mask(column)``
        and ``row_filter(table)`` placeholders (``explain.py``)."""
        from govfabric.virtualization.explain import may_see_physical, placeholder_sql, virtual_plan
        from govfabric.virtualization.masks import mask_key, redact_key

        out = {}
        # by default the engines that plan for themselves (the direct engine runs DuckDB's plan: ask for it)
        for name in engines or [n for n in REGISTRY if engine_class(n).PLANS_AS is None]:
            try:
                planned = self.plan(sql, dialect=dialect, engine=name)[0]
                if may_see_physical(self.fabric, planned.tables_used):
                    out[name] = redact_key(planned.sql, mask_key(self.fabric))
                else:
                    out[name] = placeholder_sql(virtual_plan(self.fabric, sql, dialect, name), name)
            except GovfabricError as exc:
                out[name] = f"-- not available: {exc}"
        return out

    def _record(self, engine: str, sql: str, cached: CachedPlan | None, status: str, error: str | None,
                rows: int | None, t0: float, record_with: RecordWith | None = None) -> None:
        """Record the query now, or hold it back when a :func:`recorded_together` block asks."""
        held = (_HELD.get() or {}).get(id(self))
        if held is not None:
            held.append(((engine, sql, cached, status, error, rows, t0, record_with), time.perf_counter()))
            return
        self._write_record(engine, sql, cached, status, error, rows, t0, record_with)

    def _write_record(self, engine: str, sql: str, cached: CachedPlan | None, status: str, error: str | None,
                      rows: int | None, t0: float, record_with: RecordWith | None = None) -> None:
        """Query log row and audit event in one transaction, committed before the query returns;
        its OpenLineage run and usage count in the same transaction, or — when it is the
        recording's own transaction, with no subscriber reading in it — right after, by the store's deferred writer
        (``store/later.py``: flushed before any read of this process and on close). The error is
        stored without data values (:func:`scrub_error`); the user who ran the query got it whole."""
        from govfabric.catalog.usage import record_usage
        from govfabric.governance.lineage.events import record_query

        error = scrub_error(error)
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        ms = (time.perf_counter() - t0) * 1000
        # the audit event's rounded duration; a whole number as an int: the hash's canonical JSON of
        # a float like 1.0 is "1", which the fast encoder does not write (``canonical._plain``)
        rounded = round(ms, 1)
        shown: float | int = int(rounded) if rounded.is_integer() else rounded
        planned = cached.planned if cached else None
        tables = list(planned.tables_used) if planned else []
        actor = self.fabric.user  # the principal the plan was authorised for (its name)
        # its writes and COMMIT sent together, unless a subscriber (which may read) is listening
        pipelined = not hooks.subscribers().get(hooks.QueryRecorded)
        own = self.fabric.store.current() is None  # else an outer transaction commits it, later
        # an answered query of a request that owes its api.call event: that event in this transaction
        # (only when it is this transaction's own commit that makes it durable)
        owed = take_owed(200) if status == "ok" and own else None
        # no subscriber (it gets a session to read in): no ORM session either
        session_free = pipelined and own
        # its lineage event and usage after the answer: nobody reads within this transaction
        later = pipelined and own and cached is not None

        def write(s: Session) -> tuple[list[Entry], list[Row]]:
            """The recording's writes; the audit events to append, the query's first, and its query
            log row (``append_many`` writes it with them)."""
            if not session_free:  # (with no subscriber when the recording started: nothing to tell)
                hooks.emit(hooks.QueryRecorded(self.fabric, s, sql, planned, status))
            caller = record_with(s, status, rows) if record_with is not None else None
            details: dict[str, Any] = {"engine": engine, "sql_sha256": digest, "status": status, "rows": rows,
                                       "tables": tables, "ms": shown}
            if planned:
                details["columns"] = {t: list(c) for t, c in planned.columns_used.items()}
                details["masked"] = {t: list(c) for t, c in planned.masked_columns.items()}
                details["row_filtered"] = list(planned.row_filtered)
            if error:
                details["error"] = error[:500]
            entries: list[Entry] = [(actor, "sql.query" if status == "ok" else f"sql.{status}", "sql", details)]
            entries.extend(caller or ())
            if owed is not None:
                entries.append(owed.build(200))
            log = {"principal": actor, "engine": engine, "sql_digest": digest, "tables": tables,
                   "status": status, "error": error, "rows": rows, "duration_ms": ms}
            if not later:
                after(s)
            return entries, [(_QUERY_LOG_INSERT, log)]

        forward = bool(self.fabric.settings.lineage_url)  # as configured now, not when written

        def after(s: Session) -> None:
            """The query's lineage event and usage count (after the answer when ``later``)."""
            if cached is not None:
                record_query(self.fabric, s, cached.lineage, status, actor, sql, forward=forward)
            if status == "ok" and cached is not None and cached.bindings:
                record_usage(s, cached.asset_ids, actor, "use")

        if pipelined and own:  # write-only: with the recordings of concurrent queries, one transaction
            # with its lineage and usage after it, the recording writes only the rows it returns
            recorder(self.fabric.store).record(write, session_free=session_free, writes_nothing=later)
            if later:  # committed: its lineage and usage follow it
                self.fabric.store.defer(after)
        else:
            with self.fabric.store.session(pipelined=pipelined) as s:
                append_many(s, *write(s))  # one batch: the query's event and its caller's, chained in order
        if owed is not None:
            owed.written = True

    def status(self) -> dict[str, Any]:
        """Monitoring (§10.3.5): sources reachable, queries run, errors, latency, per engine."""
        with self.fabric.store.session() as s:
            rows = s.execute(select(QueryLog.engine, QueryLog.status, func.count(), func.avg(QueryLog.duration_ms),
                                    func.max(QueryLog.duration_ms)).group_by(QueryLog.engine, QueryLog.status)).all()
            recent = list(s.scalars(select(QueryLog.duration_ms).where(QueryLog.status == "ok")
                                    .order_by(QueryLog.id.desc()).limit(1000)))
        recent.sort()
        p = (lambda q: round(recent[min(len(recent) - 1, int(q * len(recent)))], 1)) if recent else (lambda q: None)
        sources = []
        for src in self.fabric.catalog.sources():
            try:
                check = self.fabric.catalog.test_source(src.name)
                sources.append({"source": src.name, "kind": src.kind, "reachable": True,
                                "latency_ms": round(check.latency_ms, 1)})
            except GovfabricError as exc:
                sources.append({"source": src.name, "kind": src.kind, "reachable": False, "error": str(exc)})
        engines = {}
        for name in REGISTRY:
            try:
                engines[name] = self.engine(name).status()
            except GovfabricError as exc:
                engines[name] = {"engine": name, "reachable": False, "error": str(exc)}
        vts = self.fabric.virtual.tables()
        return {
            "engines": engines, "sources": sources,
            "queries": [{"engine": e, "status": st, "count": n, "avg_ms": round(avg or 0, 1),
                         "max_ms": round(mx or 0, 1)} for e, st, n, avg, mx in rows],
            "latency_ms": {"p50": p(0.5), "p95": p(0.95), "n": len(recent)},
            "virtual_tables": {"total": len(vts), "broken": [v.name for v in vts if v.status == "broken"]},
        }

    def close(self) -> None:
        # the queries' lineage events and usage (written after their answers) before the lineage
        # transport is flushed and the store disposed (``Fabric.close``)
        self.fabric.store.flush_deferred()
        for e in self._engines.values():
            e.close()
        self._engines.clear()

_QUERY_LOG_INSERT = Prepared(QueryLog.__table__.insert())



# -- holding back the records of several queries to write them in one transaction ---------------------


#: per query service (by id) the records held back in this context: (``_record``'s arguments, when)
_HELD: ContextVar[dict[int, list[tuple[tuple[Any, ...], float]]] | None] = ContextVar(
    "govfabric_query_records_held", default=None)


@contextmanager
def recorded_together(service: QueryService) -> Iterator[Callable[[], None]]:
    """Hold back the records of the queries ``service`` runs in this block — in this context only
    (another thread's queries on the same service are recorded as usual) — and write them in one
    transaction: when the block calls the yielded ``record()`` inside its own ``store.session()``
    they join it (one commit with the caller's writes, e.g. a prefill run's call record); whatever
    is not committed by then (never recorded, or rolled back) is written when the block ends,
    however it ends. Each query is still recorded once, with its own duration. For callers that
    answer only after the block: a query's record is durable before its result leaves."""
    from sqlalchemy import event

    held = _HELD.get()
    if held is not None and id(service) in held:  # nested: the outer block writes them
        yield lambda: None
        return
    calls: list[tuple[tuple[Any, ...], float]] = []
    token = _HELD.set({**(held or {}), id(service): calls})

    def write(batch: list[tuple[tuple[Any, ...], float]]) -> None:
        with service.fabric.store.session() as s:
            event.listen(s, "after_rollback", lambda _s: calls.extend(batch), once=True)  # written again at the end
            for args, at in batch:  # ``t0`` moved on by the wait: the log keeps the query's time
                engine, sql, cached, status, error, rows, t0, record_with = args
                service._write_record(engine, sql, cached, status, error, rows,
                                      t0 + time.perf_counter() - at, record_with)

    def record() -> None:
        batch, calls[:] = list(calls), []
        if batch:
            write(batch)

    try:
        yield record
    finally:
        _HELD.reset(token)
        record()
