"""The lineage service: upstream, downstream, impact analysis and exports (§8.4.4.2f, §8.4.4.5).

Python users call ``LineageService(fabric)`` (the façade exposes it as ``fabric.lineage``);
the CLI's ``govfabric lineage …`` is a thin layer over it.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from sys import intern
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select

from govfabric.errors import NotFound, ValidationFailed
from govfabric.governance.lineage.events import catalog_namespace, namespace
from govfabric.governance.lineage.graph import LineageGraph, Report, Traversal, graph_for, refreeze
from govfabric.governance.lineage.models import LineageEvent

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

EXPORT_FORMATS = ("openlineage", "dot", "html")


class LineageService:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.ns = namespace(fabric)
        self.catalog_ns = catalog_namespace(fabric)

    def graph(self) -> LineageGraph:
        return graph_for(self.fabric.store)

    # -- names ------------------------------------------------------------------------------

    def resolve(self, ref: str, g: LineageGraph | None = None) -> str:
        """A dataset key (``namespace/name``) from a full key, a virtual name or a catalog asset name."""
        g = g or self.graph()
        for candidate in (ref, f"{self.ns}/{ref}", f"{self.catalog_ns}/{ref}"):
            if candidate in g.ds_ids:
                return candidate
        found = g.find(ref)
        if len(found) == 1:
            return found[0]
        if found:
            raise ValidationFailed(f"{ref!r} is ambiguous in the lineage graph: {', '.join(sorted(found)[:5])}; "
                                   "give the full namespace/name")
        raise NotFound(f"no dataset {ref!r} in the lineage graph; lineage is recorded when sources are "
                       "harvested, virtual tables and views defined and queries run")

    def resolve_column(self, ref: str, g: LineageGraph | None = None) -> tuple[str, str | None]:
        """``DATASET`` or ``DATASET.COLUMN`` (the longest known dataset prefix wins)."""
        g = g or self.graph()
        try:
            return self.resolve(ref, g), None
        except NotFound:
            if "." not in ref:
                raise
            ds, _, col = ref.rpartition(".")
            try:
                return self.resolve(ds, g), col
            except NotFound:
                raise NotFound(f"no dataset {ref!r} (nor {ds!r} with a column {col!r}) in the lineage graph; "
                               "lineage is recorded when sources are harvested, virtual tables and views "
                               "defined and queries run") from None

    # -- queries ----------------------------------------------------------------------------

    def show(self, ref: str, column: str | None = None, *, direction: str = "downstream",
             depth: int | None = None, with_edges: bool = True) -> Traversal:
        if direction not in ("upstream", "downstream"):
            raise ValidationFailed("direction must be upstream or downstream")
        if depth is not None and depth < 1:
            raise ValidationFailed("--depth must be at least 1")
        g = self.graph()
        ds = self.resolve(ref, g)
        _check_column(g, ds, column)
        return g.traverse(ds, column, direction, depth, with_edges)

    def upstream(self, ref: str, column: str | None = None, depth: int | None = None) -> Traversal:
        return self.show(ref, column, direction="upstream", depth=depth)

    def downstream(self, ref: str, column: str | None = None, depth: int | None = None) -> Traversal:
        return self.show(ref, column, direction="downstream", depth=depth)

    def impact(self, ref: str, column: str | None = None, depth: int | None = None, *, limit: int | None = None,
               offset: int = 0) -> dict[str, Any]:
        """What breaks, and whose, if ``ref`` (``DATASET`` or ``DATASET.COLUMN``) changes.

        ``affected`` is complete by default; ``limit`` (and ``offset``) give one page of it in report
        order (depth, then name) while ``total``, ``owners``, ``consumers``, ``counts`` and ``cycles``
        still cover every dataset affected (``truncated``: more items than the page holds). A large
        report (7,500 datasets) costs ~10× a page of 100 in building its items alone.

        The closure and what the graph tells about each dataset are kept per graph and target
        (:meth:`LineageGraph.impact_report`, :meth:`_Known.summary`: counts, owners and consumers from
        per-dataset arrays built once per graph); what can change without a lineage event (an asset's
        department, who uses or follows assets) is read from the store at each call, so it is never
        stale: for a page, each department and consumer of them all once (one query, each list one
        parameter) and the page's own assets; for the complete report, every asset's.
        """
        if depth is not None and depth < 1:
            raise ValidationFailed("--depth must be at least 1")
        if (limit is not None and limit < 0) or offset < 0:
            raise ValidationFailed("limit and offset must not be negative")
        g = self.graph()
        if column is None:
            ds, column = self.resolve_column(ref, g)
        else:
            ds = self.resolve(ref, g)
        _check_column(g, ds, column)
        r = g.impact_report(ds, column, depth)
        known = self._known(g)
        summary = known.summary((ds, column, depth), r)
        fresh = [known.entries.get(r.names[i]) or known.classify(r.names[i]) for i in r.fresh]
        total = len(r.names)
        start, end = min(offset, total), total if limit is None else min(total, offset + limit)
        page = [fresh[k] if k < len(r.fresh) and r.fresh[k] == i else
                known.entries.get(r.names[i]) or known.classify(r.names[i])
                for i in range(start, end) for k in (bisect.bisect_left(r.fresh, i),)]
        owners = set(summary.owners).union(*(w.owners for w in fresh))
        consumers = set(summary.consumers).union(*(w.consumers for w in fresh))
        if end - start == total:  # every dataset: their departments and consumers give the summary's too
            dept, who = self._store_whose(summary.cat, summary.under)
            owners.update(f"department:{d}" for _, d in dept.values() if d)
            for aid in chain(summary.under, (aid for aid, _ in dept.values())):
                consumers.update(who.get(aid, ()))
        else:  # a page: the summary's distinct departments and consumers, then the page's own
            depts, everyone = self._store_summary(summary.cat, summary.under)
            owners.update(f"department:{d}" for d in depts)
            consumers.update(everyone)
            dept, who = self._store_whose([w.key for w in page if w.kind == "catalog"],
                                          [w.key for w in page if w.kind == "virtual_table"])
        counts = summary.counts + Counter(w.kind for w in fresh)
        items = []
        for i, w, cols in zip(range(start, end), page, r.columns[start:end], strict=True):  # the page's only
            kind, w_owners, w_consumers, job = _entry(w, dept, who)
            item = {"dataset": r.names[i], "depth": r.depths[i], "columns": [*cols], "via": [*r.via[i]],
                    "kind": kind, "owners": w_owners, "consumers": w_consumers}
            if job is not None:
                item["job"] = job
            items.append(item)
        return {"dataset": ds, "column": column, "affected": items, "total": total, "offset": offset,
                "limit": limit, "owners": sorted(owners), "consumers": sorted(consumers),
                "counts": {k: counts[k] for k in KINDS}, "cycles": [[*c] for c in r.cycles],
                "truncated": end < total or (offset > 0 and total > 0)}

    def describe(self, datasets: Iterable[str], g: LineageGraph | None = None) -> dict[str, dict[str, Any]]:
        """Kind, owners and consumers of datasets (catalog assets, virtual tables/views, query results)."""
        g = g or self.graph()
        names = list(datasets)
        out: dict[str, dict[str, Any]] = {}
        for n, (kind, owners, consumers, job) in zip(names, self._whose(g, names), strict=True):
            out[n] = {"kind": kind, "owners": owners, "consumers": consumers}
            if job is not None:
                out[n]["job"] = job
        return out

    def _whose(self, g: LineageGraph, names: list[str]) -> list[tuple[str, list[str], list[str], str | None]]:
        """Kind, owners, consumers and query job of each dataset (fresh lists), for thousands at a time.

        What the graph settles is worked out once per graph (:meth:`_known`); what can change without
        a lineage event (an asset's department, who uses or follows assets) is read from the store in
        one query per table for all the datasets, so it is never stale.
        """
        known = self._known(g)
        # not asked about before: classify() keeps them
        base = [b or known.classify(n) for b, n in zip(map(known.entries.get, names), names, strict=True)]
        dept, who = self._store_whose([b.key for b in base if b.kind == "catalog"],
                                      [b.key for b in base if b.kind == "virtual_table"])
        return [_entry(b, dept, who) for b in base]

    def _store_whose(self, cat: Iterable[str], under: Iterable[str]
                     ) -> tuple[dict[str, tuple[str, str | None]], dict[str, set[str]]]:
        """Catalog assets by qualified name → (id, owning department), and asset ids (those of ``cat`` and
        ``under``) → consumers, from the store."""
        cat, under = list(cat), list(under)
        dept: dict[str, tuple[str, str | None]] = {}
        who: dict[str, set[str]] = {}
        if cat or under:
            from govfabric.catalog.read import ids_and_departments
            from govfabric.catalog.usage import consumers_of

            with self.fabric.store.session() as s:
                for chunk in _chunks(cat, CHUNK):
                    dept.update((qn, (aid, d)) for qn, aid, d in ids_and_departments(s, chunk))
                who = consumers_of(s, sorted({*under, *(aid for aid, _ in dept.values())}))
        return dept, who

    def _store_summary(self, cat: tuple[str, ...], under: tuple[str, ...]) -> tuple[set[str], set[str]]:
        """The owning departments of catalog assets (qualified names) and every consumer of those and of
        the assets ``under`` virtual tables (ids), each once, from the store (one query)."""
        if not cat and not under:
            return set(), set()
        from govfabric.catalog.usage import departments_and_consumers

        with self.fabric.store.session() as s:
            return departments_and_consumers(s, list(cat), list(under))

    def _known(self, g: LineageGraph) -> _Known:
        """Kept as long as the graph: defining a virtual table or view always stores a lineage event,
        which rebuilds the graph, so their creators are read once per graph."""
        key = ("whose", self.ns)
        known = g.memo.get(key)
        if known is None:
            from govfabric.virtualization.read import table_creators, view_creators

            with self.fabric.store.session() as s:
                tables = {n: (by, aid) for n, by, aid in table_creators(s)}
                views: dict[str, str] = dict(view_creators(s))
            results, names, producer = self.ns + "/results/", g.ds_names, g.producer
            readers: dict[int, tuple[str, ...]] = {}
            for d, outs in g.ds_down.items():
                who = {intern(a) for o in outs
                       if names[o].startswith(results) and (a := producer.get(o, ("", None))[1])}
                if who:
                    readers[d] = tuple(sorted(who))
            known = _Known(self.ns, self.catalog_ns, g.ds_ids, g.producer, tables, views, readers, g.ds_names)
            known._columns()  # before it is published: other threads see it whole
            g.memo[key] = known
            refreeze()
        return known

    # -- events and exports -----------------------------------------------------------------

    def events(self, dataset: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored events (of ``dataset``) as the acting principal may read them: other principals'
        SQL with literals replaced by ``?`` unless they are an auditor or admin (:mod:`.redact`)."""
        from govfabric.governance.lineage.redact import for_viewer

        with self.fabric.store.session() as s:
            q = select(LineageEvent.payload, LineageEvent.inputs, LineageEvent.outputs, LineageEvent.actor).order_by(
                LineageEvent.event_time)
            rows = s.execute(q).all()
        key = self.resolve(dataset) if dataset else None
        picked = [(p, a) for p, i, o, a in rows if key is None or key in i or key in o]
        picked = picked[-limit:] if limit else picked
        viewer = self.fabric.actor
        return [for_viewer(p, a, viewer) for p, a in picked]

    def export(self, fmt: str, ref: str | None = None, column: str | None = None, depth: int | None = None) -> str:
        """``openlineage`` (JSON lines, one run event each), ``dot`` or ``html`` (SVG, self-contained)."""
        if fmt not in EXPORT_FORMATS:
            raise ValidationFailed(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
        if fmt == "openlineage":
            return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in self.events(ref))
        nodes, edges, title, details = self._subgraph(ref, column, depth)
        if fmt == "dot":
            from govfabric.governance.lineage.render import to_dot

            return to_dot(nodes, edges)
        from govfabric.governance.lineage.render import to_html

        return to_html(title, nodes, edges, details)

    def _subgraph(self, ref: str | None, column: str | None, depth: int | None
                  ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], str, dict[str, Any] | None]:
        g = self.graph()
        edges: list[dict[str, Any]] = []
        cols: dict[str, set[str]] = {}
        details: dict[str, Any] | None = None
        if ref is None:
            title = f"Lineage of workspace {self.fabric.settings.home.name}"
            for s_, outs in g.ds_down.items():
                for d in outs:
                    edges.append({"src": g.ds_names[s_], "dst": g.ds_names[d], "kind": "DATASET"})
            for c, lst in g.col_down.items():
                for c2, _, _ in lst:
                    edges.append({"src": g.ds_names[g.col_of[c][0]], "dst": g.ds_names[g.col_of[c2][0]],
                                  "kind": "DIRECT"})
            names = set(g.ds_names)
        else:
            ds = self.resolve(ref)
            title = f"Lineage of {ds}" + (f".{column}" if column else "")
            up = self.show(ds, column, direction="upstream", depth=depth)
            down = self.show(ds, column, direction="downstream", depth=depth)
            for t in (up, down):
                for e in t.edges:
                    edges.append({"src": e[0], "dst": e[2], "kind": e[4], "src_field": e[1], "dst_field": e[3]})
                for k, r in t.reached.items():
                    cols.setdefault(k, set()).update(r.columns)
            names = set(cols)
            details = {"cycles": sorted(set(map(tuple, up.cycles + down.cycles)))}
        info = self.describe(names)
        root = self.resolve(ref) if ref else None
        nodes = {n: {**info[n], "label": n.split("/", 3)[-1] if n.startswith("govfabric://") else n,
                     "columns": sorted(cols.get(n, set()))} for n in names}
        if root:
            nodes[root]["kind_of"] = nodes[root]["kind"]
            nodes[root]["kind"] = "root"
        return nodes, edges, title, details


class _Whose(NamedTuple):
    kind: str
    owners: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    job: str | None = None  # of a query result
    key: str = ""  # a catalog asset's qualified name, or the asset id under a virtual table


class _Summary(NamedTuple):
    """Of one impact report's index part: how many datasets, the kinds counted, and the owners,
    consumers, catalog assets (qualified names) and assets under virtual tables (ids) of them all."""

    n: int
    counts: Counter[str]
    owners: frozenset[str]
    consumers: frozenset[str]
    cat: tuple[str, ...]
    under: tuple[str, ...]


class _Columns(NamedTuple):
    """Every dataset's entry as numbers, by dataset id (built once per graph): its kind (in ``KINDS``),
    and its owners and consumers as an index into ``groups`` (each distinct tuple once), so a summary
    over thousands of datasets is a few array operations and a union over the distinct tuples."""

    kind: Any  # numpy int8
    owners: Any  # numpy int32
    consumers: Any  # numpy int32
    groups: list[tuple[str, ...]]
    group_of: dict[tuple[str, ...], int]

    def group(self, t: tuple[str, ...]) -> int:
        g = self.group_of.get(t)
        if g is None:
            g = self.group_of[t] = len(self.groups)
            self.groups.append(t)
        return g


SUMMARIES_KEPT = 1_000_000  # datasets summed over the summaries a graph's owners memo keeps


@dataclass
class _Known:
    """What the graph and the definitions of virtual tables and views tell about datasets."""

    ns: str
    cat_ns: str
    ds_ids: dict[str, int]
    producer: dict[int, tuple[str, str | None]]  # dataset id → (job, actor) of the run that wrote it
    tables: dict[str, tuple[str, str]]  # virtual table → (creator, asset id)
    views: dict[str, str]  # view → creator
    readers: dict[int, tuple[str, ...]]  # dataset id → users of the queries that read it
    names: list[str]  # the graph's dataset names by id
    entries: dict[str, _Whose] = field(default_factory=dict)  # every dataset (`_columns`), and fresh results
    summaries: dict[Any, _Summary] = field(default_factory=dict)  # per impact target, oldest first
    size: list[int] = field(default_factory=lambda: [0])  # datasets summed over ``summaries``
    columns: _Columns | None = None  # every dataset's entry as arrays, once asked for
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self, key: Any, r: Report) -> _Summary:
        """What the graph tells about the datasets of a kept impact report's index part (``r.ids``),
        kept with it: an impact asked again reads only the store's part and builds its page."""
        import numpy as np

        hit = self.summaries.get(key)
        if hit is not None and hit.n == len(r.ids):
            with self.lock:  # least recently asked for goes first
                if next(reversed(self.summaries), None) != key and self.summaries.pop(key, None) is not None:
                    self.summaries[key] = hit
            return hit
        cols, ids = self._columns(), r.ids
        kind = cols.kind[ids]
        counts = Counter({k: n for k, n in zip(KINDS, np.bincount(kind, minlength=len(KINDS)).tolist(),
                                              strict=True) if n})
        groups = cols.groups
        owners = frozenset().union(*map(groups.__getitem__, np.unique(cols.owners[ids]).tolist()))
        consumers = frozenset().union(*map(groups.__getitem__, np.unique(cols.consumers[ids]).tolist()))
        entries, names = self.entries, self.names
        cat = sorted(entries[names[i]].key for i in ids[kind == _CATALOG].tolist())
        under = sorted({entries[names[i]].key for i in ids[kind == _VIRTUAL_TABLE].tolist()})
        hit = _Summary(len(ids), counts, owners, consumers, tuple(cat), tuple(under))
        with self.lock:
            if key not in self.summaries:
                self.summaries[key] = hit
                self.size[0] += len(ids)
                while self.size[0] > SUMMARIES_KEPT and len(self.summaries) > 1:
                    self.size[0] -= self.summaries.pop(next(iter(self.summaries))).n
        return hit

    def _columns(self) -> _Columns:
        """Every dataset of the graph classified, as arrays (:class:`_Columns`); built on first use."""
        import numpy as np

        cols = self.columns
        if cols is None:
            entries = [self.entries.get(n) or self.classify(n) for n in self.names]
            cols = _Columns(np.fromiter((KINDS.index(w.kind) for w in entries), dtype=np.int8, count=len(entries)),
                            np.empty(len(entries), dtype=np.int32), np.empty(len(entries), dtype=np.int32), [], {})
            for i, w in enumerate(entries):
                cols.owners[i], cols.consumers[i] = cols.group(w.owners), cols.group(w.consumers)
            self.columns = cols
        return cols

    def classify(self, n: str) -> _Whose:
        ns, cat_ns, i = self.ns, self.cat_ns, self.ds_ids.get(n, -1)
        if n.startswith(ns + "/results/"):
            job, actor = self.producer.get(i, ("", None))
            w = _Whose("query", (intern(f"user:{actor}"),) if actor else (), (intern(actor),) if actor else (), job)
        elif n.startswith(cat_ns + "/"):
            w = _Whose("catalog", key=n[len(cat_ns) + 1:])
        elif n.startswith(ns + "/") and n[len(ns) + 1:] in self.views:
            w = _Whose("view", (intern(f"user:{self.views[n[len(ns) + 1:]]}"),), self.readers.get(i, ()))
        elif n.startswith(ns + "/") and n[len(ns) + 1:] in self.tables:
            by, aid = self.tables[n[len(ns) + 1:]]
            w = _Whose("virtual_table", (intern(f"user:{by}"),), self.readers.get(i, ()), key=aid)
        elif n.startswith(ns + "/"):
            w = _Whose("dataset")
        else:
            w = _Whose("file" if n.startswith("file:") else "source")
        self.entries[n] = w
        return w

    def fresh_output(self, result: int, inputs: set[int], actor: str | None) -> None:
        """A query result added to the graph in place (``LineageGraph.add_fresh``): its actor becomes a
        reader of its inputs, as :meth:`LineageService._known` would find on the grown graph."""
        who = self.producer.get(result, ("", None))[1]
        if not who or not self.names[result].startswith(self.ns + "/results/"):
            return
        for d in inputs:
            have = self.readers.get(d, ())
            if who not in have:
                self.readers[d] = tuple(sorted((*have, who)))
                self.entries.pop(self.names[d], None)
                cols = self.columns
                if cols is not None and d < len(cols.kind):
                    cols.consumers[d] = cols.group(self.classify(self.names[d]).consumers)
                with self.lock:  # they name its readers
                    self.summaries.clear()
                    self.size[0] = 0


KINDS = ("catalog", "virtual_table", "view", "query", "file", "source", "dataset")  # of datasets, in `counts`
_CATALOG, _VIRTUAL_TABLE = KINDS.index("catalog"), KINDS.index("virtual_table")


def _entry(w: _Whose, dept: dict[str, tuple[str, str | None]], who: dict[str, set[str]]
           ) -> tuple[str, list[str], list[str], str | None]:
    """Kind, owners, consumers (fresh lists) and query job of one dataset, given what the store said."""
    kind, owners, consumers, job, key = w
    if kind == "catalog":
        aid, d = dept.get(key, ("", None))
        return kind, [f"department:{d}"] if d else [], sorted(who.get(aid, ())), None
    if kind == "virtual_table":  # consumers: sorted already (readers)
        more = who.get(key)
        return kind, [*owners], sorted(more.union(consumers)) if more else [*consumers], None
    return kind, [*owners], [*consumers], job


CHUNK = 5000  # names per IN (…) list: well below SQLite's 32,766 and PostgreSQL's 65,535 parameters


def _check_column(g: LineageGraph, ds: str, column: str | None) -> None:
    if column is not None and column not in g.columns(ds):
        raise NotFound(f"{ds} has no column {column!r} in the lineage graph; known: "
                       + (", ".join(sorted(g.columns(ds))[:20]) or "none"))


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
