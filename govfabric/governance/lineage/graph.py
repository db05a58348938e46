"""The lineage graph in memory: built once per process from ``gov_lineage_edges`` and
rebuilt only when events were stored since (checked with one indexed query).

Nodes are datasets (``namespace/name``) and their columns. Column edges are DIRECT
(column → column) or INDIRECT (column → whole dataset: joins, filters, grouping);
dataset edges link a run's inputs to its outputs. Traversals are breadth-first with a
visited set, so cyclic lineage terminates; cycles met are reported (strongly connected
components of the datasets reached).
"""

from __future__ import annotations

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
        return {"dataset": self.dataset, "depth": self.depth, "columns": sorted(self.columns),
                "via": sorted(self.via)}


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
                 depth: int | None = None, edge_limit: int = 50_000) -> Traversal:
        down = direction == "downstream"
        root = self.ds_ids[dataset]
        reached: dict[int, Reached] = {root: Reached(dataset, 0, {column} if column else {"*"})}
        edges: list[tuple[str, str, str, str, str, str | None]] = []
        names, col_of = self.ds_names, self.col_of
        truncated = False
        if column is not None:
            start = self.col_ids.get((root, column))
            starts = [] if start is None else [start]
        else:
            starts = list(self.ds_cols[root])
        seen_cols = set(starts)
        seen_ds_whole = {root}
        ind_done: set[int] = set()
        queue: deque[tuple[int, int]] = deque((c, 0) for c in starts)
        col_adj = self.col_down if down else self.col_up
        while queue:
            c, d = queue.popleft()
            if depth is not None and d >= depth:
                continue
            cds, cname = col_of[c]
            nexts: list[tuple[int, str, str | None]] = list(col_adj.get(c, ()))
            if down:
                for ds2, sub in self.ind_down.get(c, ()):
                    edges.append((names[cds], cname, names[ds2], "", "INDIRECT", sub))
                    r = reached.get(ds2)
                    if r is None:
                        r = reached[ds2] = Reached(names[ds2], d + 1)
                    r.columns.add("*")
                    r.via.add("INDIRECT")
                    if ds2 not in seen_ds_whole:  # the whole output is affected: all its columns
                        seen_ds_whole.add(ds2)
                        for c2 in self.ds_cols[ds2]:
                            if c2 not in seen_cols:
                                seen_cols.add(c2)
                                queue.append((c2, d + 1))
            elif cds not in ind_done:  # columns that filter/join/group the dataset feed all of it
                ind_done.add(cds)
                for c2, sub in self.ind_up.get(cds, ()):
                    nexts.append((c2, "INDIRECT", sub))
            for c2, kind, sub in nexts:
                ds2, f2 = col_of[c2]
                edges.append((names[cds], cname, names[ds2], f2, kind, sub) if down
                             else (names[ds2], f2, names[cds], cname, kind, sub))
                if len(edges) > edge_limit:
                    truncated = True
                    queue.clear()
                    break
                r = reached.get(ds2)
                if r is None:
                    r = reached[ds2] = Reached(names[ds2], d + 1)
                r.columns.add(f2)
                r.via.add(kind)
                if c2 not in seen_cols:
                    seen_cols.add(c2)
                    queue.append((c2, d + 1))
        if column is None:  # dataset-level links (runs without column lineage, e.g. count(*))
            ds_adj = self.ds_down if down else self.ds_up
            dq: deque[tuple[int, int]] = deque([(root, 0)])
            seen = {root}
            while dq:
                x, d = dq.popleft()
                if depth is not None and d >= depth:
                    continue
                for y in ds_adj.get(x, ()):
                    edges.append((names[x], "", names[y], "", "DATASET", None) if down
                                 else (names[y], "", names[x], "", "DATASET", None))
                    r = reached.get(y)
                    if r is None:
                        r = reached[y] = Reached(names[y], d + 1)
                    r.via.add("DATASET")
                    if not r.columns:
                        r.columns.add("*")
                    if y not in seen:
                        seen.add(y)
                        dq.append((y, d + 1))
        cycles = self._cycles(set(reached))
        return Traversal(dataset, column, direction, {names[k]: v for k, v in reached.items()}, edges,
                         cycles, truncated)

    def _cycles(self, nodes: set[int]) -> list[list[str]]:
        """Strongly connected components (>1 dataset, or a self-loop) among ``nodes`` (iterative Tarjan)."""
        adj: dict[int, set[int]] = {n: set() for n in nodes}
        for n in nodes:
            adj[n].update(y for y in self.ds_down.get(n, ()) if y in nodes)
            for c in self.ds_cols[n]:
                adj[n].update(self.col_of[c2][0] for c2, _, _ in self.col_down.get(c, ())
                              if self.col_of[c2][0] in nodes)
                adj[n].update(y for y, _ in self.ind_down.get(c, ()) if y in nodes)
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        out: list[list[str]] = []
        counter = 0
        for start in nodes:
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
                        out.append(sorted(self.ds_names[x] for x in comp))
        return out


def graph_for(store: Store) -> LineageGraph:
    """The process's graph of this store, rebuilt when events were stored since it was built."""
    with store.engine.connect() as conn:
        stamp = tuple(conn.execute(select(func.count(LineageEvent.id), func.max(LineageEvent.event_time))).one())
    key = str(store.engine.url)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == (*stamp, _generation[0]):
            return hit[1]
        g = LineageGraph.load(store)
        _cache[key] = ((*stamp, _generation[0]), g)
        return g
