"""The lineage graph in memory: built once per process from ``gov_lineage_edges`` and
rebuilt only when events were stored since (checked with one indexed query).

Nodes are datasets (``namespace/name``) and their columns. Column edges are DIRECT
(column → column) or INDIRECT (column → whole dataset: joins, filters, grouping);
dataset edges link a run's inputs to its outputs. Traversals are breadth-first with a
visited set, so cyclic lineage terminates; cycles met are reported (strongly connected
components of the datasets reached).
"""

from __future__ import annotations

import gc
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from govfabric.governance.lineage.models import LineageEdge, LineageEvent
from govfabric.store.db import Store

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], LineageGraph]] = {}
_generation = [0]
_frozen = [False]
FREEZE_AT = 20_000  # columns; smaller graphs do not make the GC pause noticeably


def invalidate() -> None:
    """Called when events are stored in this process."""
    _generation[0] += 1


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
        self._csr: Any = None
        self._cycles: list[list[str]] = []

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
            i = self.col_ids[key] = len(self.col_of)
            self.col_of.append(key)
            self.ds_cols[ds].append(i)
        return i

    def add(self, src: str, src_field: str, dst: str, dst_field: str, kind: str, subtype: str | None,
            job: str, actor: str | None) -> None:
        s, d = self.ds(src), self.ds(dst)
        self._components = self._csr = None
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
        g = cls()
        t = LineageEdge.__table__
        with store.engine.connect() as conn:
            result = conn.execute(select(t.c.src, t.c.src_field, t.c.dst, t.c.dst_field, t.c.kind, t.c.subtype,
                                         t.c.job_name, t.c.actor).execution_options(yield_per=20000))
            for row in result:
                g.add(*row)
        return g

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

    def _matrix(self) -> Any:
        """The downstream graph as a sparse matrix for C-speed breadth-first search: nodes are the
        columns, then one node per dataset; INDIRECT links go column → dataset node, a dataset node
        leads to all its columns (the whole dataset is affected) and, by DATASET links, to other
        dataset nodes."""
        if self._csr is None:
            import numpy as np
            from scipy.sparse import csr_matrix

            nc = len(self.col_of)
            src: list[int] = []
            dst: list[int] = []
            for c, lst in self.col_down.items():
                for c2, _, _ in lst:
                    src.append(c)
                    dst.append(c2)
            for c, lst2 in self.ind_down.items():
                for d, _ in lst2:
                    src.append(c)
                    dst.append(nc + d)
            for d, cols in enumerate(self.ds_cols):
                src.extend([nc + d] * len(cols))
                dst.extend(cols)
            for d, outs in self.ds_down.items():
                for d2 in outs:
                    src.append(nc + d)
                    dst.append(nc + d2)
            n = nc + len(self.ds_names)
            m = csr_matrix((np.ones(len(src), dtype=np.int8), (np.array(src, dtype=np.int64),
                                                                 np.array(dst, dtype=np.int64))), shape=(n, n))
            ds_of = np.array([d for d, _ in self.col_of] + list(range(len(self.ds_names))), dtype=np.int64)
            fields = np.array([f for _, f in self.col_of] + [""] * len(self.ds_names), dtype=object)
            self._csr = (m, ds_of, nc, fields)
        return self._csr

    def downstream_closure(self, dataset: str, column: str | None = None) -> dict[str, Reached]:
        """What :meth:`traverse` downstream reaches (datasets, columns; depth in dataset hops), computed
        with scipy's breadth-first search and numpy; used by impact analysis on large graphs."""
        import numpy as np
        from scipy.sparse.csgraph import breadth_first_order

        m, ds_of, nc, fields = self._matrix()
        root = self.ds_ids[dataset]
        if column is not None:
            start = self.col_ids.get((root, column))
            if start is None:
                return {dataset: Reached(dataset, 0, {column})}
        else:
            start = nc + root
        order, pred = breadth_first_order(m, start, directed=True, return_predecessors=True)
        k = len(order)
        where = np.empty(len(ds_of), dtype=np.int64)
        where[order] = np.arange(k)
        up = np.zeros(k, dtype=np.int64)  # position of each reached node's BFS parent (root: itself)
        up[1:] = where[pred[order[1:]]]
        ds_r = ds_of[order]
        # depth of a node = datasets crossed on its BFS path: sum the crossings by pointer jumping
        hops = (ds_r != ds_r[up]).astype(np.int64)
        while up.any():
            hops += hops[up]
            up = up[up]
        rest, p_rest = order[1:], pred[order[1:]]
        is_col = rest < nc
        from_col = p_rest < nc
        nds = len(self.ds_names)
        flags = np.zeros((4, nds), dtype=bool)  # DIRECT, INDIRECT, DATASET, whole
        flags[0, ds_of[rest[is_col & from_col]]] = True
        flags[1, ds_of[rest[~is_col & from_col]]] = True
        flags[2, ds_of[rest[~is_col & ~from_col]]] = True
        flags[3, ds_of[rest[~is_col]]] = True
        by_ds = np.lexsort((hops, ds_r))  # per dataset, its shallowest node first
        ds_sorted = ds_r[by_ds]
        uds, first = np.unique(ds_sorted, return_index=True)
        depth_l = hops[by_ds][first].tolist()
        # columns reached through a link (a dataset affected as a whole also gets "*")
        linked = np.zeros(k, dtype=bool)
        linked[1:] = is_col & from_col
        sel = by_ds[linked[by_ds]]
        col_ds = ds_r[sel]
        col_names = fields[order[sel]].tolist()
        bounds = np.searchsorted(col_ds, uds).tolist() + [len(col_names)]
        names = self.ds_names
        reached: dict[str, Reached] = {}
        fl = flags[:, uds]
        codes = (fl[0] * 1 + fl[1] * 2 + fl[2] * 4).tolist()
        whole = fl[3].tolist()
        vias = [{v for b, v in ((1, "DIRECT"), (2, "INDIRECT"), (4, "DATASET")) if code & b} for code in range(8)]
        for i, (d, dep, code, w) in enumerate(zip(uds.tolist(), depth_l, codes, whole, strict=True)):
            cset = set(col_names[bounds[i]:bounds[i + 1]])
            if w:
                cset.add("*")
            name = names[d]
            reached[name] = Reached(name, dep, cset, vias[code])
        reached[dataset] = Reached(dataset, 0, {column} if column else {"*"})
        return reached

    def components(self) -> dict[int, int]:
        """Datasets on a cycle → the index of their cycle in ``self._cycles`` (computed once per graph)."""
        if self._components is None:
            self._components, self._cycles = {}, []
            for comp in self._scc():
                for n in comp:
                    self._components[n] = len(self._cycles)
                self._cycles.append(sorted(self.ds_names[x] for x in comp))
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


def graph_for(store: Store) -> LineageGraph:
    """The process's graph of this store, rebuilt when events were stored since it was built."""
    with store.engine.connect() as conn:
        stamp = tuple(conn.execute(select(func.max(LineageEvent.event_time))).one())  # indexed; append-only
    key = str(store.engine.url)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == (*stamp, _generation[0]):
            return hit[1]
        # The graph is millions of small objects: keep them out of the cyclic GC's full passes,
        # which otherwise land as 0.5 s pauses in the middle of unrelated requests.
        if _cache.pop(key, None) is not None and _frozen[0]:
            gc.unfreeze()
            _frozen[0] = False
        g = LineageGraph.load(store)
        _cache[key] = ((*stamp, _generation[0]), g)
        if len(g.col_of) >= FREEZE_AT:
            gc.collect()
            gc.freeze()
            _frozen[0] = True
        return g
