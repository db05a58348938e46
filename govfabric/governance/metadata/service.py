"""The metadata API (§8.4.4.2): business metadata (glossary terms, indicators, business rules)
linked to assets and columns, typed technical metadata, a global search over both, and an
asset's composition / structure / data-flow view.

Writes need the steward role, check every name first and write in one transaction: an
unknown term in a link changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govfabric.auth.audit import append
from govfabric.errors import AlreadyExists, NotFound, ValidationFailed
from govfabric.governance.metadata.models import Indicator, Link, Rule, TechnicalRecord, Term
from govfabric.governance.metadata.technical import TECHNICAL_TYPES, validate_body

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

KINDS: dict[str, type[Term] | type[Indicator] | type[Rule]] = {"term": Term, "indicator": Indicator, "rule": Rule}


def _as_dict(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


class MetadataService:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    def _steward(self, action: str) -> str:
        actor = self.fabric.actor
        actor.require("steward", action=action)
        return actor.name

    def _add(self, kind: str, name: str, **values: Any) -> dict[str, Any]:
        who = self._steward(f"define {kind}s")
        name = name.strip()
        if not name:
            raise ValidationFailed(f"a {kind} needs a name")
        model = KINDS[kind]
        with self.store.session() as s:
            if s.scalar(select(model.id).where(model.name == name)):
                raise AlreadyExists(f"{kind} {name!r} exists")
            row = model(name=name, created_by=who, **values)
            s.add(row)
            s.flush()
            append(s, who, f"metadata.{kind}.add", f"{kind}:{name}", {k: v for k, v in values.items() if v})
            return _as_dict(row)

    # -- business metadata ------------------------------------------------------------------

    def add_term(self, name: str, definition: str, *, cn_name: str | None = None,
                 synonyms: list[str] | None = None, steward: str | None = None) -> dict[str, Any]:
        if not definition.strip():
            raise ValidationFailed(f"term {name!r} needs a definition")
        return self._add("term", name, definition=definition, cn_name=cn_name, synonyms=list(synonyms or []),
                         steward=steward)

    def add_indicator(self, name: str, formula: str, caliber: str, *, cn_name: str | None = None,
                      unit: str | None = None, dimensions: list[str] | None = None) -> dict[str, Any]:
        if not formula.strip() or not caliber.strip():
            raise ValidationFailed(f"indicator {name!r} needs a formula and a caliber (口径)")
        return self._add("indicator", name, formula=formula, caliber=caliber, cn_name=cn_name, unit=unit,
                         dimensions=list(dimensions or []))

    def add_rule(self, name: str, description: str, expression: str | None = None) -> dict[str, Any]:
        return self._add("rule", name, description=description, expression=expression)

    def items(self, kind: str) -> list[dict[str, Any]]:
        model = self._model(kind)
        with self.store.session() as s:
            return [_as_dict(r) for r in s.scalars(select(model).order_by(model.name))]

    def terms(self) -> list[dict[str, Any]]:
        return self.items("term")

    def _model(self, kind: str) -> Any:
        if kind not in KINDS:
            raise ValidationFailed(f"unknown business metadata kind {kind!r}; use term, indicator or rule")
        return KINDS[kind]

    def _lookup(self, s: Session, kind: str, names: list[str]) -> dict[str, str]:
        model = self._model(kind)
        rows = {n: i for n, i in s.execute(select(model.name, model.id).where(model.name.in_(names)))}
        if kind == "term":  # a term may be named by its Chinese name or a synonym
            for t in s.scalars(select(Term)):
                for n in names:
                    if n not in rows and (n == t.cn_name or n in (t.synonyms or [])):
                        rows[n] = t.id
        return rows

    def link(self, asset: str, *, terms: list[str] | None = None, indicators: list[str] | None = None,
             rules: list[str] | None = None, column: str | None = None) -> list[dict[str, Any]]:
        """Attach business metadata to an asset (or a column of it); all names are checked first."""
        who = self._steward("link metadata")
        wanted = {"term": list(terms or []), "indicator": list(indicators or []), "rule": list(rules or [])}
        if not any(wanted.values()):
            raise ValidationFailed("name at least one term, indicator or rule to link")
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset)
            if column is not None:
                a.require_columns([column])
            ids: dict[str, dict[str, str]] = {}
            missing = []
            for kind, names in wanted.items():
                ids[kind] = self._lookup(s, kind, names) if names else {}
                missing += [f"{kind} {n!r}" for n in names if n not in ids[kind]]
            if missing:
                raise NotFound(f"unknown {', '.join(missing)}; define them first (`govfabric metadata "
                               "term add …`); nothing was linked")
            made = []
            for kind, found in ids.items():
                for n, item_id in found.items():
                    exists = s.scalar(select(Link.id).where(Link.kind == kind, Link.item_id == item_id,
                                                            Link.asset_id == a.id, Link.column == (column or "")))
                    if exists:
                        continue
                    s.add(Link(kind=kind, item_id=item_id, asset_id=a.id, column=column or "", created_by=who))
                    made.append({"kind": kind, "name": n, "asset": a.qualified_name, "column": column})
            append(s, who, "metadata.link", f"asset:{a.qualified_name}", {"links": made})
            return made

    def unlink(self, asset: str, kind: str, name: str, column: str | None = None) -> None:
        who = self._steward("unlink metadata")
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset)
            item = self._lookup(s, kind, [name]).get(name)
            row = s.scalar(select(Link).where(Link.kind == kind, Link.item_id == item, Link.asset_id == a.id,
                                              Link.column == (column or ""))) if item else None
            if row is None:
                where = a.qualified_name + (f".{column}" if column else "")
                raise NotFound(f"{kind} {name!r} is not linked to {where}")
            s.delete(row)
            append(s, who, "metadata.unlink", f"asset:{a.qualified_name}", {"kind": kind, "name": name,
                                                                             "column": column})

    def links(self, asset: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset)
            return self._links(s, [a.id]).get(a.id, [])

    def _links(self, s: Session, asset_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        rows = list(s.scalars(select(Link).where(Link.asset_id.in_(asset_ids))))
        names: dict[str, dict[str, Any]] = {}
        for kind, model in KINDS.items():
            ids = [r.item_id for r in rows if r.kind == kind]
            for item in s.scalars(select(model).where(model.id.in_(ids))):
                names[item.id] = {"kind": kind, "name": item.name, "cn_name": getattr(item, "cn_name", None)}
        for r in rows:
            out.setdefault(r.asset_id, []).append({**names[r.item_id], "column": r.column or None})
        return out

    # -- technical metadata -----------------------------------------------------------------

    def add_technical(self, kind: str, name: str, body: dict[str, Any], *, asset: str | None = None,
                      replace: bool = False) -> dict[str, Any]:
        who = self._steward("record technical metadata")
        clean = validate_body(kind, body)
        with self.store.session() as s:
            asset_id = self.fabric.catalog.resolve(s, asset).id if asset else None
            row = s.scalar(select(TechnicalRecord).where(TechnicalRecord.type == kind, TechnicalRecord.name == name))
            if row is not None and not replace:
                raise AlreadyExists(f"{kind} record {name!r} exists; replace it explicitly")
            if row is None:
                row = TechnicalRecord(type=kind, name=name, created_by=who)
                s.add(row)
            row.body, row.asset_id = clean, asset_id
            s.flush()
            append(s, who, "metadata.technical", f"{kind}:{name}", {"asset": asset, "body": clean})
            return _as_dict(row)

    def technical(self, kind: str | None = None, asset: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            q = select(TechnicalRecord).order_by(TechnicalRecord.type, TechnicalRecord.name)
            if kind:
                if kind not in TECHNICAL_TYPES:
                    raise ValidationFailed(f"unknown technical metadata type {kind!r}; use one of "
                                           + ", ".join(TECHNICAL_TYPES))
                q = q.where(TechnicalRecord.type == kind)
            if asset:
                q = q.where(TechnicalRecord.asset_id == self.fabric.catalog.resolve(s, asset).id)
            return [_as_dict(r) for r in s.scalars(q)]

    # -- search and views -------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 20) -> dict[str, Any]:
        """Global metadata search: the catalog's ranked search, plus glossary terms, indicators and rules
        whose names, Chinese names, synonyms or definitions match — and the assets they are linked to."""
        query = query.strip()
        if not query:
            raise ValidationFailed("give something to search for")
        hits = self.fabric.catalog.search(query, limit=limit)
        pattern = f"%{query}%"
        out: dict[str, Any] = {"assets": [h.as_dict() for h in hits], "terms": [], "indicators": [], "rules": []}
        from govfabric.catalog.read import qualified_name_of

        with self.store.session() as s:
            found: list[tuple[str, Any]] = []
            for t in s.scalars(select(Term).order_by(Term.name)):
                text = " ".join([t.name, t.cn_name or "", t.definition, *(t.synonyms or [])]).lower()
                if query.lower() in text:
                    found.append(("term", t))
            found += [("indicator", i) for i in s.scalars(select(Indicator).where(or_(
                Indicator.name.ilike(pattern), Indicator.cn_name.ilike(pattern), Indicator.caliber.ilike(pattern)))
                .order_by(Indicator.name))]
            found += [("rule", r) for r in s.scalars(select(Rule).where(or_(
                Rule.name.ilike(pattern), Rule.description.ilike(pattern))).order_by(Rule.name))]
            for kind, item in found[:limit]:
                asset_qn = qualified_name_of(Link.asset_id)
                linked = s.execute(select(asset_qn, Link.column).where(Link.kind == kind, Link.item_id == item.id,
                                                                       asset_qn.is_not(None))).all()
                out[f"{kind}s"].append({**_as_dict(item), "linked": [
                    qn + (f".{col}" if col else "") for qn, col in linked]})
        return out

    def asset_view(self, ref: str) -> dict[str, Any]:
        """Composition (columns with their business metadata), structure (technical records, virtual
        tables and views over it) and data flow (upstream / downstream from lineage) of one asset."""
        from govfabric.governance.lineage.events import catalog_namespace
        from govfabric.virtualization.read import table_names_over, views_reading

        d = self.fabric.catalog.dictionary(ref)
        with self.store.session() as s:
            links = self._links(s, [d["id"]]).get(d["id"], [])
            vts = table_names_over(s, d["id"])
            views = views_reading(s, vts)
        for col in d["columns"]:
            col["metadata"] = [lk for lk in links if lk["column"] == col["name"]]
        lineage = self.fabric.lineage
        key = f"{catalog_namespace(self.fabric)}/{d['qualified_name']}"
        flow: dict[str, Any] = {"upstream": [], "downstream": []}
        if key in lineage.graph().ds_ids:
            for direction in ("upstream", "downstream"):
                t = lineage.show(key, direction=direction)
                flow[direction] = [r.as_dict() for r in sorted(t.reached.values(), key=lambda r: (r.depth, r.dataset))
                                   if r.dataset != key]
            flow["cycles"] = t.cycles
        return {"asset": {k: d[k] for k in ("id", "qualified_name", "cn_name", "description", "type",
                                             "owner_department", "source", "update_frequency",
                                             "last_updated_at", "content_signature")},
                "composition": d["columns"], "business": [lk for lk in links if not lk["column"]],
                "technical": self.technical(asset=d["id"]),
                "structure": {"virtual_tables": vts, "views": views},
                "data_flow": flow}
