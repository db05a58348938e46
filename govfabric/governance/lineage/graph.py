"""The lineage graph in memory: built once per process from ``gov_lineage_edges`` and the payloads
of the events stored without edge rows (harvests, queries), and rebuilt only when events were stored
since (checked with one indexed query).

Nodes are datasets (``namespace/name``) and their columns. Column edges are DIRECT
(column → column) or INDIRECT (column → whole dataset: joins, filters, grouping);
dataset edges link a run's inputs to its outputs. Traversals are breadth-first with a
visited set, so cyclic lineage terminates; cycles met are reported (strongly connected
components of the datasets reached). Impact analysis, which may reach most of a large graph,
runs on an integer index of it in numpy arrays, built once per graph (numpy comes with the
MPC and quality dependencies).
"""

from __future__ import annotations

import bisect
import functools
import gc
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, overload

from sqlalchemy import Text, cast, func, select

from govfabric.governance.lineage.models import LineageEdge, LineageEvent
from govfabric.store.db import Store

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], LineageGraph]] = {}
_generation = [0]
_frozen = [False]
FREEZE_AT = 20_000  # columns; smaller graphs do not make the GC pause noticeably


#: query run events (``events.query_template``): their edges are derived from the payload, not stored
QUERY_JOBS = "virtual_query.%"
#: per store: edges of query events committed in this process since its graph was built
_derived: dict[str, list[tuple[str, list[tuple[Any, ...]]]]] = {}
MAX_PENDING = 5_000  # query events kept for a built graph not read since
EXTRA_MAX = 50_000  # links of query results kept beside the impact index before it is rebuilt
REPORTS_KEPT = 64 << 20  # bytes (about) of the impact reports a graph keeps: 200 of ~2,000 datasets each


def invalidate() -> None:
    """Called when events are stored in this process."""
    _generation[0] += 1


def refreeze() -> None:
    """Freeze again what was built from a frozen graph (its impact index, the services' memos): they live
    as long as it. Left in the GC's generations they are walked by every full pass, and each large impact
    report (tens of thousands of lists and dicts) sets one off: that was a third of a large impact's CPU."""
    with _lock:
        if _frozen[0]:
            gc.collect()
            gc.freeze()


def _key(engine: Any) -> str:
    """A store's key in :data:`_cache`: its URL, rendered once per engine (each query's event asks)."""
    key = engine.__dict__.get("_govfabric_graph_key")
    if key is None:
        key = engine.__dict__["_govfabric_graph_key"] = str(engine.url)
    return key


def derived(session: Any, event_id: str, payload: Callable[[], dict[str, Any]], actor: str | None) -> None:
    """A query event stored in ``session`` without edge rows: once the transaction commits, its
    edges go to this process's graph of the store as they are (:func:`graph_for`, no rebuild).
    ``payload`` gives the event: called only when this process holds a graph of the store (a query's
    event is stored as spliced text, ``events.record_query``, decoded only then)."""
    from govfabric.governance.lineage.events import edges_of
    from govfabric.store.db import on_commit

    key = _key(session.get_bind().engine)

    def committed() -> None:
        if key not in _cache:  # no graph built in this process: nothing to add to
            return
        rows = [(e["src"], e["src_field"], e["dst"], e["dst_field"], e["kind"], e["subtype"], e["job_name"], actor)
                for e in edges_of(payload())]
        with _lock:
            hit = _cache.get(key)
            if hit is None:
                return
            pending = _derived.setdefault(key, [])
            pending.append((event_id, rows))
            if len(pending) > MAX_PENDING:  # a graph nobody asked for since: rebuild it when asked
                _derived.pop(key, None)
                _cache[key] = ((-1, None, -1), hit[1])

    on_commit(session, committed)


@dataclass
class Reached:
    dataset: str
    depth: int
    columns: set[str] = field(default_factory=set)  # "*" = the whole dataset
    via: set[str] = field(default_factory=set)  # edge kinds that reached it

    def as_dict(self) -> dict[str, Any]:
        cols, via = self.columns, self.via
        return {"dataset": self.dataset, "depth": self.depth,
                "columns": sorted(cols) if len(cols) > 1 else list(cols),
                "via": sorted(via) if len(via) > 1 else list(via)}


@dataclass
class Traversal:
    root: str
    column: str | None
    direction: str  # "upstream" | "downstream"
    reached: dict[str, Reached]
    edges: list[tuple[str, str, str, str, str, str | None]]  # src, src_field, dst, dst_field, kind, subtype
    cycles: list[list[str]]
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "column": self.column, "direction": self.direction,
                "datasets": [r.as_dict() for r in sorted(self.reached.values(), key=lambda r: (r.depth, r.dataset))],
                "edges": [dict(zip(("src", "src_field", "dst", "dst_field", "kind", "subtype"), e, strict=True))
                          for e in self.edges],
                "cycles": self.cycles, "truncated": self.truncated}


@dataclass
class Impact:
    """What a change reaches downstream (the root itself left out), as parallel lists in report order."""

    names: list[str]
    depths: list[int]
    columns: list[list[str]]  # sorted; "*" = the whole dataset
    via: list[list[str]]  # sorted kinds of the links followed into the dataset
    cycles: list[list[str]]  # cycles through any dataset reached (the root included)


class Report(NamedTuple):
    """An impact report as kept per graph and target (:meth:`LineageGraph.impact_report`): tuples shared
    between calls (read-only, and out of the cyclic GC's way: tuples of strings are untracked), in report
    order; ``ids`` are the dataset ids of the part the impact index reached (``fresh`` query results
    added since follow it: ``fresh`` are their positions in this report)."""

    names: tuple[str, ...]
    depths: tuple[int, ...]
    columns: Sequence[tuple[str, ...]]  # of the index part: built as asked for (_ColumnLists)
    via: tuple[tuple[str, ...], ...]
    cycles: list[list[str]]
    ids: Any  # numpy int64, dataset ids of the index part, in its report order
    fresh: tuple[int, ...] = ()


class _Kept(NamedTuple):
    """The index part of one target's report and the nodes it reached (sorted) with their levels: what
    query results added later are checked against."""

    report: Report
    nodes: Any
    levels: Any


def _weight(kept: _Kept) -> int:
    """About the bytes a kept report holds: its arrays, and ~64 per dataset in its tuples."""
    cols = kept.report.columns
    more = cols.nbytes if isinstance(cols, _ColumnLists) else 0
    return kept.nodes.nbytes + kept.levels.nbytes + kept.report.ids.nbytes + 64 * len(kept.report.names) + more


class _ColumnLists(Sequence[tuple[str, ...]]):
    """The column lists of a kept report's index part, built when asked for (an item, or a slice at
    once): a page needs ~100 of a large report's ~7,500, and building them all cost a sixth of a
    first-time page. Tuples as :class:`Report` has them; all of them, once built, are kept (a complete
    report asked again costs what it did when they were built at once)."""

    def __init__(self, x: _ImpactIndex, ids: Any, whole: Any, full: Any, some: Any, first: Any, last: Any) -> None:
        self.x, self.ids, self.whole, self.full, self.some, self.first, self.last = \
            x, ids, whole, full, some, first, last
        self._all: list[tuple[str, ...]] | None = None

    @property
    def nbytes(self) -> int:
        return self.whole.nbytes + self.full.nbytes + self.some.nbytes + self.first.nbytes + self.last.nbytes

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> tuple[str, ...]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, ...]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self._lists(*i.indices(len(self.ids)))
        if i < 0:
            i += len(self.ids)
        if not 0 <= i < len(self.ids):
            raise IndexError(i)
        return self._lists(i, i + 1, 1)[0]

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._lists(0, len(self.ids), 1))

    def _lists(self, a: int, b: int, step: int) -> list[tuple[str, ...]]:
        import numpy as np

        if self._all is not None:
            return self._all[a:b:step]
        x, part = self.x, slice(a, b, step)
        ids, whole = self.ids[part], self.whole[part]
        columns = list(map(x.col_lists.__getitem__, (ids + x.nds * whole).tolist()))
        first, last, fields = self.first[part], self.last[part], x.fields
        for j in np.flatnonzero(~self.full[part]).tolist():  # some of the columns: their slice of `some`
            cols = list(map(fields.__getitem__, self.some[first[j]:last[j]].tolist()))
            if whole[j]:
                bisect.insort(cols, "*")
            columns[j] = tuple(cols)
        if step == 1 and b - a == len(self.ids) > 0:
            self._all = columns[:]  # a copy: the caller may change its list
        return columns


class LineageGraph:
    """Adjacency lists over interned ids; ~100 bytes per edge."""

    def __init__(self) -> None:
        self.ds_ids: dict[str, int] = {}
        self.ds_names: list[str] = []
        self.col_ids: dict[tuple[int, str], int] = {}
        self.col_of: list[tuple[int, str]] = []
        self.ds_cols: list[list[int]] = []
        self.col_down: dict[int, list[tuple[int, str, str | None]]] = defaultdict(list)
        self.col_up: dict[int, list[tuple[int, str, str | None]]] = defaultdict(list)
        self.ind_down: dict[int, list[tuple[int, str | None]]] = defaultdict(list)  # column → dataset
        self.ind_up: dict[int, list[tuple[int, str | None]]] = defaultdict(list)  # dataset → column
        self.ds_down: dict[int, set[int]] = defaultdict(set)
        self.ds_up: dict[int, set[int]] = defaultdict(set)
        self.producer: dict[int, tuple[str, str | None]] = {}  # dataset → (job, actor)
        self._components: dict[int, int] | None = None
        self._index: _ImpactIndex | None = None
        self.memo: dict[Any, Any] = {}  # what services derive from the graph, kept as long as it is
        self._cycles: list[list[str]] = []
        self.query_events: set[str] = set()  # ids of the query events whose edges are in the graph
        self._reports: dict[tuple[int, str | None, int | None], _Kept] = {}  # oldest first
        self._reports_size = 0
        self._reports_lock = threading.Lock()

    def ds(self, name: str) -> int:
        i = self.ds_ids.get(name)
        if i is None:
            i = self.ds_ids[name] = len(self.ds_names)
            self.ds_names.append(name)
            self.ds_cols.append([])
        return i

    def col(self, ds: int, name: str) -> int:
        key = (ds, name)
        i = self.col_ids.get(key)
        if i is None:
            # one object per distinct name (rows bring a new one each): a large impact report lists ~100k
            # column names, and touching one per column cost more in cache misses than building the lists
            key = (ds, sys.intern(name))
            i = self.col_ids[key] = len(self.col_of)
            self.col_of.append(key)
            self.ds_cols[ds].append(i)
        return i

    def add(self, src: str, src_field: str, dst: str, dst_field: str, kind: str, subtype: str | None,
            job: str, actor: str | None) -> None:
        self._components, self._index = None, None
        self.memo.clear()
        if self._reports:
            with self._reports_lock:
                self._reports, self._reports_size = {}, 0
        self._link(src, src_field, dst, dst_field, kind, subtype, job, actor)

    def add_fresh(self, rows: list[tuple[Any, ...]]) -> None:
        """The edges (``add``'s arguments) of one query event, added without dropping what was derived
        from the graph when they all lead into one new dataset (a query's result) from datasets and
        columns the impact index knows: such a sink closes no cycle (the components stay) and leads
        nowhere (the index keeps its links aside, :meth:`impact` adds what they reach). Otherwise, or
        once the links kept aside outgrow the index, as ``add``."""
        x = self._index
        dsts = {r[2] for r in rows}
        if not rows or x is None or len(dsts) != 1 or next(iter(dsts)) in self.ds_ids or \
                len(x.extra) + len(rows) > max(EXTRA_MAX, len(x.cross.target) // 10) or \
                any(r[0] not in self.ds_ids or r[4] not in x.bits
                    or (r[4] != "DATASET" and (self.ds_ids[r[0]], r[1]) not in self.col_ids) for r in rows):
            for r in rows:
                self.add(*r)
            return
        extra = []
        for r in rows:
            src, src_field, dst, dst_field, kind = r[:5]
            s = self.ds_ids[src]
            node = x.ncol + s if kind == "DATASET" else int(x.new[self.col_ids[(s, src_field)]])
            whole = kind == "DATASET" or kind == "INDIRECT" or not dst_field
            bit = x.bits[kind] if kind == "DATASET" or not whole else x.bits["INDIRECT"]  # as the index's own
            extra.append((node, self.ds(dst) - x.nds, "" if whole else dst_field, bit))
            self._link(*r)
        x.add_extra(extra)
        d, actor = self.ds_ids[next(iter(dsts))], rows[0][7]
        srcs = {self.ds_ids[r[0]] for r in rows if r[4] == "DATASET"}
        for key, value in list(self.memo.items()):
            fresh = getattr(value, "fresh_output", None)
            if fresh is None:
                del self.memo[key]
            else:
                fresh(d, srcs, actor)

    def _link(self, src: str, src_field: str, dst: str, dst_field: str, kind: str, subtype: str | None,
              job: str, actor: str | None) -> None:
        s, d = self.ds(src), self.ds(dst)
        self.producer.setdefault(d, (job, actor))
        if kind == "DATASET":
            self.ds_down[s].add(d)
            self.ds_up[d].add(s)
            return
        sc = self.col(s, src_field)
        if kind == "INDIRECT" or not dst_field:
            self.ind_down[sc].append((d, subtype))
            self.ind_up[d].append((sc, subtype))
        else:
            dc = self.col(d, dst_field)
            self.col_down[sc].append((dc, kind, subtype))
            self.col_up[dc].append((sc, kind, subtype))

    @classmethod
    def load(cls, store: Store) -> LineageGraph:
        from govfabric.store.bulk import paused_gc

        g = cls()
        t = LineageEdge.__table__
        # paused: the graph is ~10 containers per edge, which every full pass of the collector walked again
        with paused_gc(), store.engine.connect() as conn:
            result = conn.execute(select(t.c.src, t.c.src_field, t.c.dst, t.c.dst_field, t.c.kind, t.c.subtype,
                                         t.c.job_name, t.c.actor).execution_options(yield_per=20000))
            for row in result:
                g.add(*row)
            g.add_harvest_events(conn)
            g.add_query_events(conn)
        return g

    def add_harvest_events(self, conn: Any) -> None:
        """Edges of the harvest events (stored without edge rows: ``events.derives_edges``), derived from
        their payloads: each output's from the job's latest complete event that names it, as
        ``events.store_event`` replaced them when it stored edge rows (a re-harvest's event names what
        it added or changed). Events of earlier versions, whose edge rows are stored, count for what
        they replace; their edges are the rows."""
        from govfabric.governance.lineage.events import HARVEST_PREFIX

        e, t = LineageEvent.__table__, LineageEdge.__table__
        stored = select(t.c.id).where(t.c.event_id == e.c.id).exists()
        owner: dict[tuple[str, str], str] = {}  # (job, output) → the latest event naming it
        rows = conn.execute(select(e.c.id, e.c.job_name, e.c.outputs, stored).where(
            e.c.job_name.like(HARVEST_PREFIX + "%"), e.c.event_type == "COMPLETE").order_by(e.c.event_time)).all()
        for event_id, job, outputs, _ in rows:
            for o in outputs:
                owner[(job, o)] = event_id
        wanted = set(owner.values()).difference(i for i, _, _, has_rows in rows if has_rows)
        order = [i for i, _, _, _ in rows if i in wanted]
        decode = _harvest_decoder().decode
        text = cast(e.c.payload, Text)  # decoded here, only the parts the graph needs
        for start in range(0, len(order), 500):
            # a few payloads at a time: a harvest of 10,000 tables is a 60 MB document
            for event_id, payload, actor in conn.execute(select(e.c.id, text, e.c.actor).where(
                    e.c.id.in_(order[start:start + 500])).order_by(e.c.event_time).execution_options(yield_per=4)):
                for r in _harvest_edges(decode(payload), event_id, owner):
                    self._link(*r, actor)

    def add_query_events(self, conn: Any) -> None:
        """Edges of the query events stored without edge rows (all but those of older versions),
        derived from their payloads as ``events.store_event`` would have stored them."""
        from govfabric.governance.lineage.events import edges_of

        e, t = LineageEvent.__table__, LineageEdge.__table__
        stored = select(t.c.id).where(t.c.event_id == e.c.id).exists()
        result = conn.execute(select(e.c.id, e.c.payload, e.c.actor).where(
            e.c.job_name.like(QUERY_JOBS), e.c.event_type == "COMPLETE", ~stored).execution_options(yield_per=2000))
        for event_id, payload, actor in result:
            self.query_events.add(event_id)
            for d in edges_of(payload):
                self.add(d["src"], d["src_field"], d["dst"], d["dst_field"], d["kind"], d["subtype"], d["job_name"],
                         actor)

    # -- lookups --------------------------------------------------------------------------------

    def datasets(self) -> list[str]:
        return list(self.ds_names)

    def columns(self, dataset: str) -> list[str]:
        i = self.ds_ids.get(dataset)
        return [] if i is None else [self.col_of[c][1] for c in self.ds_cols[i]]

    def find(self, ref: str) -> list[str]:
        """Datasets named ``ref`` exactly, or whose name (after the namespace) is ``ref``."""
        if ref in self.ds_ids:
            return [ref]
        return [n for n in self.ds_names if n.endswith("/" + ref)]

    # -- traversal ------------------------------------------------------------------------------

    def traverse(self, dataset: str, column: str | None = None, direction: str = "downstream",
                 depth: int | None = None, with_edges: bool = True, edge_limit: int = 50_000) -> Traversal:
        """Breadth-first over column links (and dataset links when no column is given).

        Downstream, an INDIRECT link (a filter, join or grouping column) affects the whole
        target dataset, so all of its columns continue the walk.
        """
        down = direction == "downstream"
        root = self.ds_ids[dataset]
        reached: dict[int, Reached] = {root: Reached(dataset, 0, {column} if column else {"*"})}
        edges: list[tuple[int, str, int, str, str, str | None]] = []
        names, col_of = self.ds_names, self.col_of
        truncated = False
        if column is not None:
            start = self.col_ids.get((root, column))
            starts = [] if start is None else [start]
        else:
            starts = list(self.ds_cols[root])
        seen_cols = set(starts)
        whole = {root}  # datasets reached as a whole (all their columns queued)
        ind_done: set[int] = set()
        queue: deque[tuple[int, int]] = deque((c, 0) for c in starts)
        col_adj = self.col_down if down else self.col_up
        record = with_edges

        def reach(ds2: int, d: int, col: str, via: str) -> None:
            r = reached.get(ds2)
            if r is None:
                r = reached[ds2] = Reached(names[ds2], d)
            r.columns.add(col)
            r.via.add(via)

        while queue:
            c, d = queue.popleft()
            if depth is not None and d >= depth:
                continue
            cds, cname = col_of[c]
            if down:
                for ds2, sub in self.ind_down.get(c, ()):
                    if record:
                        edges.append((cds, cname, ds2, "", "INDIRECT", sub))
                    reach(ds2, d + 1, "*", "INDIRECT")
                    if ds2 not in whole:
                        whole.add(ds2)
                        for c2 in self.ds_cols[ds2]:
                            if c2 not in seen_cols:
                                seen_cols.add(c2)
                                queue.append((c2, d + 1))
            elif cds not in ind_done:  # columns that filter/join/group the dataset feed all of it
                ind_done.add(cds)
                for c2, sub in self.ind_up.get(cds, ()):
                    ds2, f2 = col_of[c2]
                    if record:
                        edges.append((ds2, f2, cds, "", "INDIRECT", sub))
                    reach(ds2, d + 1, f2, "INDIRECT")
                    if c2 not in seen_cols:
                        seen_cols.add(c2)
                        queue.append((c2, d + 1))
            for c2, kind, sub in col_adj.get(c, ()):
                ds2, f2 = col_of[c2]
                if record:
                    edges.append((cds, cname, ds2, f2, kind, sub) if down else (ds2, f2, cds, cname, kind, sub))
                reach(ds2, d + 1, f2, kind)
                if c2 not in seen_cols:
                    seen_cols.add(c2)
                    queue.append((c2, d + 1))
            if record and len(edges) > edge_limit:
                truncated, record = True, False
        if column is None:  # dataset-level links (runs without column lineage, e.g. count(*))
            ds_adj = self.ds_down if down else self.ds_up
            dq: deque[tuple[int, int]] = deque([(root, 0)])
            seen = {root}
            while dq:
                x, d = dq.popleft()
                if depth is not None and d >= depth:
                    continue
                for y in ds_adj.get(x, ()):
                    if record:
                        edges.append((x, "", y, "", "DATASET", None) if down else (y, "", x, "", "DATASET", None))
                    r = reached.get(y)
                    if r is None:
                        r = reached[y] = Reached(names[y], d + 1, {"*"})
                    r.via.add("DATASET")
                    if y not in seen:
                        seen.add(y)
                        dq.append((y, d + 1))
        comp = self.components()
        cycles = sorted({comp[n] for n in reached if n in comp})
        return Traversal(dataset, column, direction, {names[k]: v for k, v in reached.items()},
                         [(names[a], fa, names[b], fb, k, sub) for a, fa, b, fb, k, sub in edges],
                         [self._cycles[i] for i in cycles], truncated)

    def impact(self, dataset: str, column: str | None = None, depth: int | None = None) -> Impact:
        """Everything downstream of ``dataset`` (or of its ``column``) in report order: depth, then name.

        A column reaches columns by DIRECT links and whole datasets by INDIRECT ones; a whole dataset
        reaches all its columns and, by DATASET links, other whole datasets. Depth counts the datasets
        crossed on the shortest path. ``columns`` are those reached by a link, plus ``"*"`` when the
        dataset is affected as a whole; ``via`` are the kinds of all links followed into it. Every node
        is visited once, so cycles terminate; they are reported. Fresh lists (:meth:`impact_report`
        gives the shared tuples).
        """
        r = self.impact_report(dataset, column, depth)
        return Impact(list(r.names), list(r.depths), list(map(list, r.columns)), list(map(list, r.via)),
                      [*r.cycles])

    def impact_report(self, dataset: str, column: str | None = None, depth: int | None = None) -> Report:
        """:meth:`impact` as shared tuples, kept per (dataset, column, depth) as long as the graph's impact
        index (least recently asked for dropped first): a repeated impact costs the query results added
        since and the merge, not the closure. Query results added in place (:meth:`add_fresh`) are
        checked at every call against the nodes the kept closure reached, so they show at once."""
        import numpy as np

        x = self._impact_index()
        root = self.ds_ids[dataset]
        if root >= x.nds:  # a query result added since the index was built: nothing downstream
            return Report((), (), (), (), [], np.zeros(0, dtype=np.int64))
        key = (root, column, depth)
        kept = self._reports.get(key)
        if kept is None:
            kept = self._keep(key, self._closure(x, root, column, depth))
        else:
            with self._reports_lock:  # least recently asked for goes first
                if next(reversed(self._reports), None) != key and self._reports.pop(key, None) is not None:
                    self._reports[key] = kept
        r, extra = kept.report, x.extra
        if not extra:
            return r
        enodes = x.extra_nodes(extra)
        pos = np.minimum(np.searchsorted(kept.nodes, enodes), max(len(kept.nodes) - 1, 0))
        lv = np.where(kept.nodes[pos] == enodes, kept.levels[pos], -1) if len(kept.nodes) else enodes * 0 - 1
        fresh = x.reach_extra(extra, lv, depth, self)
        if not fresh[0]:
            return r
        # the query results (few) merged into the kept report in order (depth, name), in ascending order:
        # each lands after the one before, so the positions found stay right
        names, depths, columns, via = list(r.names), list(r.depths), list(r.columns), list(r.via)
        at = []
        for d, n, c, v in sorted(zip(fresh[1], fresh[0], fresh[2], fresh[3], strict=True)):
            lo = bisect.bisect_left(depths, d)
            j = bisect.bisect_left(names, n, lo, bisect.bisect_right(depths, d, lo))
            names.insert(j, n)
            depths.insert(j, d)
            columns.insert(j, tuple(c))
            via.insert(j, tuple(v))
            at.append(j)
        return Report(tuple(names), tuple(depths), tuple(columns), tuple(via), r.cycles, r.ids, tuple(at))

    def _keep(self, key: tuple[int, str | None, int | None], kept: _Kept) -> _Kept:
        with self._reports_lock:
            if key not in self._reports:
                self._reports[key] = kept
                self._reports_size += _weight(kept)
                while self._reports_size > REPORTS_KEPT and len(self._reports) > 1:
                    old = self._reports.pop(next(iter(self._reports)))
                    self._reports_size -= _weight(old)
        return kept

    def _closure(self, x: _ImpactIndex, root: int, column: str | None, depth: int | None) -> _Kept:
        """The index part of a report: a breadth-first search by levels in numpy (C speed per level, a
        few dozen levels for a 10,000-dataset closure), each level first closed under the links inside a
        dataset."""
        import numpy as np

        if column is None:
            start = x.ncol + root
        elif (root, column) in self.col_ids:
            start = int(x.new[self.col_ids[(root, column)]])
        else:
            return _Kept(Report((), (), (), (), self._cycles_of(np.array([root])), np.zeros(0, dtype=np.int64)),
                         np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32))
        level, ds_depth, followed = x.reach(start, root, depth)
        nodes = np.flatnonzero(level >= 0).astype(np.int32)
        levels = level[nodes]
        every = np.flatnonzero(ds_depth >= 0)
        cycles = self._cycles_of(every)
        ids = every[every != root]
        if not ids.size:
            return _Kept(Report((), (), (), (), cycles, ids), nodes, levels)
        depths = ds_depth[ids]
        order = np.lexsort((x.rank[ids], depths))
        ids, depths = ids[order], depths[order]
        via = np.zeros(x.nds, dtype=np.int64)
        mark = np.zeros(x.ncol, dtype=bool)  # columns reached by a link
        for links, done in zip((x.cross, x.inner), followed, strict=True):
            if done:
                pos = np.concatenate(done)
                np.bitwise_or.at(via, links.target_ds[pos], links.kind[pos])
                t = links.target[pos]
                mark[t[t < x.ncol]] = True
        linked = np.flatnonzero(mark)  # by dataset, then name
        n_linked = np.bincount(x.ds_of[linked], minlength=x.nds)
        full = n_linked == x.ncols  # every column linked: the dataset's own list, else slices of `some`
        some = linked[~full[x.ds_of[linked]]]
        some_ds = x.ds_of[some]
        columns = _ColumnLists(x, ids, level[x.ncol + ids] >= 0, full[ids], some.astype(np.int32),
                               np.searchsorted(some_ds, ids, "left").astype(np.int32),
                               np.searchsorted(some_ds, ids, "right").astype(np.int32))
        codes = via[ids].tolist()
        kinds = {c: x.via_names(c) for c in set(codes)}
        report = Report(tuple(map(self.ds_names.__getitem__, ids.tolist())), tuple(depths.tolist()),
                        columns, tuple(map(kinds.__getitem__, codes)), cycles, ids)
        return _Kept(report, nodes, levels)

    def _impact_index(self) -> _ImpactIndex:
        if self._index is None:
            self._index = _ImpactIndex(self)
            refreeze()
        return self._index

    def _cycles_of(self, datasets: Any) -> list[list[str]]:
        import numpy as np

        ids = np.unique(self._impact_index().cycle_of[datasets])
        return [self._cycles[i] for i in ids[ids >= 0].tolist()]

    def components(self) -> dict[int, int]:
        """Datasets on a cycle → the index of their cycle in ``self._cycles`` (computed once per graph)."""
        if self._components is None:  # built aside, then published: other threads never see half of it
            components: dict[int, int] = {}
            cycles: list[list[str]] = []
            for comp in self._scc():
                for n in comp:
                    components[n] = len(cycles)
                cycles.append(sorted(self.ds_names[x] for x in comp))
            self._cycles, self._components = cycles, components
        return self._components

    def _scc(self) -> list[list[int]]:
        """Strongly connected components with more than one dataset, or a self-loop (iterative Tarjan)."""
        adj: list[set[int]] = [set() for _ in self.ds_names]
        for s_, outs in self.ds_down.items():
            adj[s_].update(outs)
        for c, lst in self.col_down.items():
            adj[self.col_of[c][0]].update(self.col_of[c2][0] for c2, _, _ in lst)
        for c, lst2 in self.ind_down.items():
            adj[self.col_of[c][0]].update(d for d, _ in lst2)
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        out: list[list[int]] = []
        counter = 0
        for start in range(len(adj)):
            if start in index:
                continue
            work = [(start, iter(adj[start]))]
            index[start] = low[start] = counter
            counter += 1
            stack.append(start)
            on_stack.add(start)
            while work:
                v, it = work[-1]
                advanced = False
                for w in it:
                    if w not in index:
                        index[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        on_stack.add(w)
                        work.append((w, iter(adj[w])))
                        advanced = True
                        break
                    if w in on_stack:
                        low[v] = min(low[v], index[w])
                if advanced:
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in adj[v]:
                        out.append(comp)
        return out


@functools.cache
def _harvest_decoder() -> Any:
    """A msgspec decoder of what :func:`events.edges_of` reads of an event: the rest of the payload (schema
    and datasource facets of every table, two thirds of a harvest's) is skipped, not built as objects."""
    from msgspec import defstruct, json

    # defstruct, not class statements: this module's annotations are strings, not resolvable here
    step: Any = defstruct("Step", [("type", str, "DIRECT"), ("subtype", str | None, None)])
    field_: Any = defstruct("Field", [("namespace", str), ("name", str), ("field", str),
                                      ("transformations", list[step], [])])
    body: Any = defstruct("Body", [("inputFields", list[field_], [])])
    lineage: Any = defstruct("Lineage", [("fields", dict[str, body] | None, None),
                                         ("dataset", list[field_] | None, None)])
    facets: Any = defstruct("Facets", [("columnLineage", lineage | None, None)])
    output: Any = defstruct("Output", [("namespace", str), ("name", str), ("facets", facets | None, None)])
    input_: Any = defstruct("Input", [("namespace", str), ("name", str)])
    job: Any = defstruct("Job", [("name", str)])
    event: Any = defstruct("Event", [("job", job), ("inputs", list[input_] | None, None),
                                     ("outputs", list[output] | None, None)])
    return json.Decoder(event)


def _harvest_edges(p: Any, event_id: str, owner: dict[tuple[str, str], str]
                   ) -> Iterator[tuple[str, str, str, str, str, str | None, str]]:
    """``events.edges_of`` of a decoded event (:func:`_harvest_decoder`) as ``_link`` arguments but the
    actor, for the outputs whose edges are this event's (``owner``)."""
    job = p.job.name
    names: dict[tuple[str, str], str] = {}

    def full(f: Any) -> str:
        key = (f.namespace, f.name)
        n = names.get(key)
        if n is None:
            n = names[key] = f"{f.namespace}/{f.name}"
        return n

    ins = [full(d) for d in p.inputs or ()]
    for o in p.outputs or ():
        dst = full(o)
        if owner.get((job, dst)) != event_id:
            continue
        lineage = o.facets.columnLineage if o.facets is not None else None
        fields = (lineage.fields if lineage is not None else None) or {}
        dataset = (lineage.dataset if lineage is not None else None) or []
        named = [full(f) for body in fields.values() for f in body.inputFields] + [full(f) for f in dataset]
        for src in dict.fromkeys(named or ins):
            yield src, "", dst, "", "DATASET", None, job
        for col, body in fields.items():
            for f in body.inputFields:
                t = f.transformations[0] if f.transformations else None
                yield full(f), f.field, dst, col, t.type if t else "DIRECT", t.subtype if t else None, job
        for f in dataset:
            t = f.transformations[0] if f.transformations else None
            yield full(f), f.field, dst, "", "INDIRECT", t.subtype if t else None, job


def _ranges(lo: Any, hi: Any) -> Any:
    """The positions lo[0]..hi[0]-1, lo[1]..hi[1]-1, … as one array (the links of many nodes at once)."""
    import numpy as np

    cnt = hi - lo
    total = int(cnt.sum())
    return np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(total) if total else cnt[:0]


class _Links(NamedTuple):
    """Links sorted by source node (CSR), with what a report needs of each."""

    target: Any  # node
    target_ds: Any
    kind: Any  # bit of the kind


class _ImpactIndex:
    """The downstream graph in numpy arrays over integer nodes, built once per graph for
    :meth:`LineageGraph.impact`.

    Nodes are the columns, renumbered by (dataset, name) so that a sorted array of them lists each
    dataset's columns in name order and a whole dataset's columns are a range, then one node per whole
    dataset. Links that cross datasets (these count as depth) and links inside a dataset are kept
    apart, each sorted by source node; the same link asserted by several runs is kept once.
    """

    def __init__(self, g: LineageGraph) -> None:
        import numpy as np

        def ints(values: Any) -> Any:
            return np.fromiter(values, dtype=np.int64)

        self.nds, self.ncol = nds, ncol = len(g.ds_names), len(g.col_of)
        self.n = ncol + nds
        order = sorted(range(ncol), key=g.col_of.__getitem__)
        self.new = np.empty(ncol, dtype=np.int64)  # graph column id → node
        self.new[ints(order)] = np.arange(ncol)
        self.fields = [g.col_of[c][1] for c in order]
        col_ds = ints(g.col_of[c][0] for c in order)
        self.ds_of = np.concatenate([col_ds, np.arange(nds)])
        self.col_start = np.searchsorted(col_ds, np.arange(nds + 1))
        self.ncols = np.diff(self.col_start)
        bounds = self.col_start.tolist()
        cols_of = [tuple(self.fields[bounds[i]:bounds[i + 1]]) for i in range(nds)]
        # dataset d's columns, then (at nds + d) the same with "*", the whole dataset
        self.col_lists = cols_of + [tuple(sorted(("*", *c))) for c in cols_of]
        self.kinds = ["DIRECT", "INDIRECT", "DATASET"]  # bit i = kinds[i]
        self.bits = bits = {k: 1 << i for i, k in enumerate(self.kinds)}
        cc = [(c, c2, kind) for c, lst in g.col_down.items() for c2, kind, _ in lst]
        for kind in dict.fromkeys(k for _, _, k in cc):
            if kind not in bits:
                bits[kind] = 1 << len(self.kinds)
                self.kinds.append(kind)
        ind = [(c, d) for c, lst2 in g.ind_down.items() for d, _ in lst2]
        ww = [(a, b) for a, outs in g.ds_down.items() for b in outs]
        src = np.concatenate([self.new[ints(c for c, _, _ in cc)], self.new[ints(c for c, _ in ind)],
                              ncol + ints(a for a, _ in ww)])
        dst = np.concatenate([self.new[ints(c2 for _, c2, _ in cc)], ncol + ints(d for _, d in ind),
                              ncol + ints(b for _, b in ww)])
        kind = np.concatenate([ints(bits[k] for _, _, k in cc), np.full(len(ind), bits["INDIRECT"]),
                               np.full(len(ww), bits["DATASET"])])
        o = np.lexsort((kind, dst, src))
        src, dst, kind = src[o], dst[o], kind[o]
        keep = np.ones(len(src), dtype=bool)
        keep[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1]) | (kind[1:] != kind[:-1])
        src, dst, kind = src[keep], dst[keep], kind[keep]
        cross = self.ds_of[src] != self.ds_of[dst]
        nodes = np.arange(self.n + 1)
        self.cross_ptr = np.searchsorted(src[cross], nodes)
        self.cross = _Links(dst[cross], self.ds_of[dst[cross]], kind[cross])
        self.inner_ptr = np.searchsorted(src[~cross], nodes)
        self.inner = _Links(dst[~cross], self.ds_of[dst[~cross]], kind[~cross])
        self.rank = np.empty(nds, dtype=np.int64)  # dataset id → position by name
        self.rank[ints(sorted(range(nds), key=g.ds_names.__getitem__))] = np.arange(nds)
        self.cycle_of = np.full(nds, -1, dtype=np.int64)  # dataset id → its cycle in g._cycles
        comp = g.components()
        if comp:
            self.cycle_of[ints(comp)] = ints(comp.values())
        self._via: dict[int, tuple[str, ...]] = {}
        # links into query results added since (LineageGraph.add_fresh): (node, result - nds, field or
        # "" for the whole result, kind bit); as arrays once asked for
        self.extra: list[tuple[int, int, str, int]] = []
        self._extra_nodes: Any = None

    def add_extra(self, links: list[tuple[int, int, str, int]]) -> None:
        self.extra = [*self.extra, *links]  # a new list: a reader in another thread keeps a whole one
        self._extra_nodes = None

    def extra_nodes(self, extra: list[tuple[int, int, str, int]]) -> Any:
        """The source nodes of ``extra`` (a value of ``self.extra``) as an array."""
        import numpy as np

        nodes = self._extra_nodes
        if nodes is None or len(nodes) != len(extra):
            nodes = np.fromiter((e[0] for e in extra), dtype=np.int64, count=len(extra))
            if extra is self.extra:
                self._extra_nodes = nodes
        return nodes

    def reach_extra(self, extra: list[tuple[int, int, str, int]], lv: Any, depth: int | None, g: LineageGraph
                    ) -> tuple[list[str], list[int], list[list[str]], list[list[str]]]:
        """The query results of ``extra`` (links added since the index was built) that the reached nodes
        lead to (``lv``: the level of each link's source node, -1 not reached): each one link further than
        its nearest reached input, in no particular order (names, depths, columns, via)."""
        import numpy as np

        if not extra:
            return [], [], [], []
        hit = np.flatnonzero((lv >= 0) if depth is None else ((lv >= 0) & (lv < depth))).tolist()
        if not hit:
            return [], [], [], []
        found: dict[int, list[Any]] = {}  # result → [depth, via bits, whole, linked fields]
        lvs = lv.tolist()
        for i in hit:
            _, sink, fld, bit = extra[i]
            d = lvs[i] + 1
            f = found.get(sink)
            if f is None:
                f = found[sink] = [d, 0, False, set()]
            elif d < f[0]:
                f[0] = d
            f[1] |= bit
            if fld:
                f[3].add(fld)
            else:
                f[2] = True
        names, depths, columns, via = [], [], [], []
        for sink, (d, bits, whole, linked) in found.items():
            names.append(g.ds_names[self.nds + sink])
            depths.append(d)
            columns.append(sorted({*linked, "*"} if whole else linked))
            via.append(list(self.via_names(bits)))
        return names, depths, columns, via

    def reach(self, start: int, root: int, depth: int | None) -> tuple[Any, Any, tuple[list[Any], list[Any]]]:
        """Breadth-first from node ``start`` (of dataset ``root``) by levels, each level first closed under
        the links inside a dataset: the level of each node and dataset (-1: not reached) and the positions
        of the cross and inner links followed."""
        import numpy as np

        level = np.full(self.n, -1, dtype=np.int32)
        ds_depth = np.full(self.nds, -1, dtype=np.int32)
        slot = np.empty(self.n, dtype=np.int64)  # scratch for dropping duplicates without sorting
        level[start] = ds_depth[root] = 0
        new = np.array([start], dtype=np.int64)
        followed: tuple[list[Any], list[Any]] = ([], [])  # positions of the cross and inner links followed
        d = 0

        def settle(cand: Any) -> Any:
            """The candidates not yet visited, once each, now visited at level d."""
            cand = cand[level[cand] < 0]
            slot[cand] = np.arange(len(cand))
            cand = cand[slot[cand] == np.arange(len(cand))]
            level[cand] = d
            ds_new = self.ds_of[cand]
            ds_depth[ds_new[ds_depth[ds_new] < 0]] = d
            return cand

        while True:
            layer = [new]
            while new.size:  # level d, closed under the links that stay inside a dataset
                whole = new[new >= self.ncol] - self.ncol
                cand = [_ranges(self.col_start[whole], self.col_start[whole + 1])]
                if self.inner.target.size:
                    pos = _ranges(self.inner_ptr[new], self.inner_ptr[new + 1])
                    followed[1].append(pos)
                    cand.append(self.inner.target[pos])
                new = settle(np.concatenate(cand))
                layer.append(new)
                if not self.inner.target.size:  # a whole dataset's columns lead nowhere inside it
                    break
            if depth is not None and d >= depth:
                break
            nodes = np.concatenate(layer)
            pos = _ranges(self.cross_ptr[nodes], self.cross_ptr[nodes + 1])
            if not pos.size:
                break
            followed[0].append(pos)
            d += 1
            new = settle(self.cross.target[pos])
        return level, ds_depth, followed

    def via_names(self, code: int) -> tuple[str, ...]:
        hit = self._via.get(code)
        if hit is None:
            hit = self._via[code] = tuple(sorted(k for i, k in enumerate(self.kinds) if code >> i & 1))
        return hit


def graph_for(store: Store) -> LineageGraph:
    """The process's graph of this store, rebuilt when events were stored since it was built."""
    store.flush_deferred()  # this process's query events, written after their answers
    with store.engine.connect() as conn:
        # append-only: the count changes with every commit, even one whose event time is older
        # than the newest already seen (clocks of other processes)
        stamp = tuple(conn.execute(select(func.count(), func.max(LineageEvent.event_time))).one())
    key = _key(store.engine)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == (*stamp, _generation[0]):
            return hit[1]
        pending = _derived.pop(key, [])
        if hit is not None and hit[0][2] == _generation[0] and hit[0][0] + len(pending) == stamp[0]:
            # the only events since: this process's queries, whose edges replace none — add them
            g = hit[1]
            for event_id, rows in pending:
                if event_id not in g.query_events:  # not committed in time to be loaded already
                    g.query_events.add(event_id)
                    g.add_fresh(rows)
            _cache[key] = ((*stamp, _generation[0]), hit[1])
            return hit[1]
        # The graph is millions of small objects: keep them out of the cyclic GC's full passes,
        # which otherwise land as 0.5 s pauses in the middle of unrelated requests.
        if _cache.pop(key, None) is not None and _frozen[0]:
            gc.unfreeze()
            _frozen[0] = False
        g = LineageGraph.load(store)  # query events committed meanwhile are in it, or come next time
        _cache[key] = ((*stamp, _generation[0]), g)
        if len(g.col_of) >= FREEZE_AT:
            gc.collect()
            gc.freeze()
            _frozen[0] = True
        return g
