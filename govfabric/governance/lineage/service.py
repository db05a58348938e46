"""The lineage service: upstream, downstream, impact analysis and exports (§8.4.4.2f, §8.4.4.5).

Python users call ``LineageService(fabric)`` (the façade exposes it as ``fabric.lineage``);
the CLI's ``govfabric lineage …`` is a thin layer over it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.errors import NotFound, ValidationFailed
from govfabric.governance.lineage.events import catalog_namespace, namespace
from govfabric.governance.lineage.graph import LineageGraph, Traversal, graph_for
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

    def resolve(self, ref: str) -> str:
        """A dataset key (``namespace/name``) from a full key, a virtual name or a catalog asset name."""
        g = self.graph()
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

    def resolve_column(self, ref: str) -> tuple[str, str | None]:
        """``DATASET`` or ``DATASET.COLUMN`` (the longest known dataset prefix wins)."""
        try:
            return self.resolve(ref), None
        except NotFound:
            if "." not in ref:
                raise
            ds, _, col = ref.rpartition(".")
            try:
                return self.resolve(ds), col
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
        ds = self.resolve(ref)
        g = self.graph()
        if column is not None and column not in g.columns(ds):
            raise NotFound(f"{ds} has no column {column!r} in the lineage graph; known: "
                           + (", ".join(sorted(g.columns(ds))[:20]) or "none"))
        return g.traverse(ds, column, direction, depth, with_edges)

    def upstream(self, ref: str, column: str | None = None, depth: int | None = None) -> Traversal:
        return self.show(ref, column, direction="upstream", depth=depth)

    def downstream(self, ref: str, column: str | None = None, depth: int | None = None) -> Traversal:
        return self.show(ref, column, direction="downstream", depth=depth)

    def impact(self, ref: str, column: str | None = None, depth: int | None = None) -> dict[str, Any]:
        """What breaks, and whose, if ``ref`` (``DATASET`` or ``DATASET.COLUMN``) changes."""
        if column is None:
            ds, column = self.resolve_column(ref)
        else:
            ds = self.resolve(ref)
        g = self.graph()
        if column is not None and column not in g.columns(ds):
            raise NotFound(f"{ds} has no column {column!r} in the lineage graph; known: "
                           + (", ".join(sorted(g.columns(ds))[:20]) or "none"))
        if depth is None:  # the whole closure, at C speed
            reached = g.downstream_closure(ds, column)
            comp = g.components()
            ids = {comp[g.ds_ids[n]] for n in reached if g.ds_ids[n] in comp}
            cycles, truncated = [g._cycles[i] for i in sorted(ids)], False
        else:
            t = self.show(ds, column, direction="downstream", depth=depth, with_edges=False)
            reached, cycles, truncated = t.reached, t.cycles, t.truncated
        affected = {k: v for k, v in reached.items() if k != ds}
        info = self.describe(affected, g)
        items = []
        for name, r in sorted(affected.items(), key=lambda kv: (kv[1].depth, kv[0])):
            items.append({**r.as_dict(), **info[name]})
        owners = sorted({o for i in items for o in i["owners"]})
        consumers = sorted({c for i in items for c in i["consumers"]})
        return {"dataset": ds, "column": column, "affected": items, "owners": owners, "consumers": consumers,
                "counts": {k: sum(1 for i in items if i["kind"] == k) for k in
                           ("catalog", "virtual_table", "view", "query", "file", "source", "dataset")},
                "cycles": cycles, "truncated": truncated}

    def describe(self, datasets: Iterable[str], g: LineageGraph | None = None) -> dict[str, dict[str, Any]]:
        """Kind, owners and consumers of datasets (catalog assets, virtual tables/views, query results)."""
        from govfabric.catalog.models import Asset
        from govfabric.catalog.usage import consumers_of
        from govfabric.virtualization.models import VirtualTableRow, VirtualViewRow

        g = g or self.graph()
        names = list(datasets)
        out: dict[str, dict[str, Any]] = {}
        cat_prefix, virt_prefix, results_prefix = self.catalog_ns + "/", self.ns + "/", self.ns + "/results/"
        cat: dict[str, str] = {}
        virt: dict[str, str] = {}
        none: tuple[str, ...] = ()
        producer, ids = g.producer, g.ds_ids
        for n in names:
            if n.startswith(results_prefix):
                job, actor = producer.get(ids.get(n, -1), ("", None))
                out[n] = {"kind": "query", "owners": [f"user:{actor}"] if actor else [],
                          "consumers": [actor] if actor else [], "job": job}
            elif n.startswith(cat_prefix):
                cat[n[len(cat_prefix):]] = n
                out[n] = {"kind": "catalog", "owners": none, "consumers": none}
            elif n.startswith(virt_prefix):
                virt[n[len(virt_prefix):]] = n
                out[n] = {"kind": "dataset", "owners": none, "consumers": none}
            else:
                out[n] = {"kind": "file" if n.startswith("file:") else "source", "owners": none, "consumers": none}
        asset_of: dict[str, str] = {}
        with self.fabric.store.session() as s:
            for chunk in _chunks(list(cat), 500):
                for a in s.execute(select(Asset.id, Asset.qualified_name, Asset.owner_department)
                                   .where(Asset.qualified_name.in_(chunk))):
                    out[cat[a.qualified_name]] = {"kind": "catalog", "owners": [f"department:{a.owner_department}"]
                                                  if a.owner_department else [], "consumers": []}
                    asset_of[cat[a.qualified_name]] = a.id
            known = set(s.scalars(select(VirtualTableRow.name))) | set(s.scalars(select(VirtualViewRow.name)))
            for chunk in _chunks([v for v in virt if v in known], 500):
                for name, by, aid in s.execute(select(VirtualTableRow.name, VirtualTableRow.created_by,
                                                      VirtualTableRow.asset_id).where(VirtualTableRow.name.in_(chunk))):
                    out[virt[name]] = {"kind": "virtual_table", "owners": [f"user:{by}"], "consumers": []}
                    asset_of[virt[name]] = aid
                for name, by in s.execute(select(VirtualViewRow.name, VirtualViewRow.created_by)
                                          .where(VirtualViewRow.name.in_(chunk))):
                    out[virt[name]] = {"kind": "view", "owners": [f"user:{by}"], "consumers": []}
            if asset_of:
                who = consumers_of(s, sorted(set(asset_of.values())))
                for n, aid in asset_of.items():
                    out[n]["consumers"] = sorted(who.get(aid, set()))
        for n in virt.values():  # principals whose queries read the virtual table or view
            if out[n]["kind"] not in ("virtual_table", "view"):
                continue
            readers = {g.producer.get(d, ("", None))[1] for d in g.ds_down.get(g.ds_ids.get(n, -1), ())
                       if g.ds_names[d].startswith(f"{self.ns}/results/")}
            out[n]["consumers"] = sorted(set(out[n]["consumers"]) | {r for r in readers if r})
        return out

    # -- events and exports -----------------------------------------------------------------

    def events(self, dataset: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self.fabric.store.session() as s:
            q = select(LineageEvent.payload, LineageEvent.inputs, LineageEvent.outputs).order_by(
                LineageEvent.event_time)
            rows = s.execute(q).all()
        key = self.resolve(dataset) if dataset else None
        out = [p for p, i, o in rows if key is None or key in i or key in o]
        return out[-limit:] if limit else out

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


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
