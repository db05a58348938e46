"""The prefill service (``fabric.prefill``): service items with form and material specs, and
prefill runs for an applicant (§9.4.6.3, §9.8.3.5–9.8.3.6).

A run reads nothing until the applicant's identifier is valid and the applicant's consent covers
the item's purpose, its shared fields and its licences. Fields are then read through the guarded
read path as the item's service principal — one sqlglot SELECT per (table, key), the key a bound
``?`` parameter (one cached plan per item × tables, whatever the applicant), grants and masks
applied — and a source that fails marks only its own fields unavailable.
Government-issued materials come from the licence library (``fabric.licences``: ``for_holder``,
``verify``) and are attached only when verified; the library relies on the run's consent decision
(one audited consent check per run). Each run, refused or not, is one ``prefill_calls`` row and one
audit event (names, never values; the applicant as the consent module's keyed hash); a filled run's
guarded reads are recorded in the same transaction as its licence read and its call record
(``virtualization.query.recorded_together``)."""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlglot import exp

from govfabric.auth.audit import append
from govfabric.errors import AccessDenied, GovfabricError, NotFound, ValidationFailed
from govfabric.identifiers import is_valid_uscc
from govfabric.prefill.models import CallRow, ItemRow, PendingRow
from govfabric.prefill.spec import (
    COMPONENT_KINDS,
    NAME_RE,
    FormField,
    ItemSpec,
    Material,
    check_structure,
    display,
    evaluate,
    spec_from_stored,
)
from govfabric.store.base import utcnow
from govfabric.virtualization.query import recorded_together
from govfabric.virtualization.types import value_kind

if TYPE_CHECKING:
    from collections.abc import Callable

    from govfabric.fabric import Fabric
    from govfabric.governance.security.consent import ConsentDecision

AUTHORS = ("steward",)
HISTORY_READERS = ("steward", "auditor")
_PARSED: dict[str, ItemSpec] = {}  # stored specs by digest: a version never changes, so parse it once


def _parsed(row: ItemRow) -> ItemSpec:
    """The stored spec of ``row`` parsed (cached by its SHA-256: stored specs are immutable)."""
    spec = _PARSED.get(row.sha256)
    if spec is None:
        if len(_PARSED) > 256:
            _PARSED.clear()
        spec = _PARSED[row.sha256] = spec_from_stored(row.spec)
    return spec




class ConsentMissing(AccessDenied):
    """The applicant's consent does not cover what the item would read."""


def _plain(v: Any) -> Any:
    """A JSON-able value for the answer (dates as ISO text, decimals as text)."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, date | datetime):
        return v.isoformat()
    if isinstance(v, bytes):
        return None
    return str(v)


@dataclass(frozen=True)
class _Group:
    """Fields read by one query: the same table and the same key."""

    table: str
    key: str
    key_field: str | None
    fields: tuple[FormField, ...]


_SHAPES: dict[tuple[Any, ...], str] = {}  # read texts by (table, key, columns) of their groups


def _shape_sql(groups: tuple[_Group, ...], build: Callable[[], exp.Select]) -> str:
    """The text of a read whose key is a ``?`` placeholder: the same for every applicant, so the
    query service plans it once (its plan cache is keyed by the text) and it is built here once."""
    key = tuple((g.table, g.key, _columns(g)) for g in groups)
    sql = _SHAPES.get(key)
    if sql is None:
        if len(_SHAPES) > 1024:
            _SHAPES.clear()
        sql = _SHAPES[key] = build().sql(dialect="duckdb")
    return sql


def _columns(g: _Group) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.source.column for f in g.fields))  # type: ignore[union-attr]


class Prefill:
    """Item specs and prefill runs, as the acting principal."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- items --------------------------------------------------------------------------------------

    def validate(self, doc: dict[str, Any]) -> tuple[ItemSpec | None, list[str]]:
        """Every problem of a spec: its structure, then its sources against the virtual catalog
        (unknown tables and columns, a component that cannot show the column's type, a key that is
        not text) and its service principal. Nothing is written."""
        spec, problems = check_structure(doc)
        if spec is None:
            return None, problems
        problems = problems + self._catalog_problems(spec)
        with self.store.session() as s:
            from govfabric.auth.principals import roles_of

            roles = roles_of(s, spec.principal)
            if roles is None:
                problems.append(f"item: principal {spec.principal} is not a principal of this workspace; add it "
                                "with `govfabric principal add` (a business_system holding the grants)")
            elif not {"business_system", "steward", "admin"} & set(roles):
                problems.append(f"item: principal {spec.principal} must be a business_system (it checks the "
                                "applicant's consent); give it that role")
        return (spec if not problems else None), problems

    def _catalog_problems(self, spec: ItemSpec) -> list[str]:
        problems: list[str] = []
        columns: dict[str, dict[str, str | None] | None] = {}
        for f in spec.fields:
            src = f.source
            if src is None:
                continue
            if src.table not in columns:
                columns[src.table] = self._columns(src.table)
            cols = columns[src.table]
            where = f"field {f.name}"
            if cols is None:
                problems.append(f"{where}: no virtual table or view {src.table}; list them with `govfabric vt list`")
                continue
            for what, col in (("column", src.column), ("key", src.key)):
                if col not in cols:
                    problems.append(f"{where}: {src.table} has no visible column {col} ({what})")
            kind = cols.get(src.column, "?")
            allowed = COMPONENT_KINDS.get(f.component, ())
            if src.column in cols and kind is not None and kind not in allowed:
                problems.append(f"{where}: a {f.component} component cannot show {src.table}.{src.column} "
                                f"({kind}); use one of the components for {kind} values")
            if src.key in cols and cols[src.key] not in ("text", None):
                problems.append(f"{where}: key {src.key} of {src.table} must be a text column (an identifier)")
        return problems

    def _columns(self, name: str) -> dict[str, str | None] | None:
        """Visible columns of a virtual table (with kinds) or a view (kinds unknown); None if neither."""
        try:
            row = self.fabric.virtual.table(name)
            return {c["name"]: value_kind(c.get("type")) for c in row.columns if not c.get("hidden")}
        except NotFound:
            pass
        if not any(v.name == name for v in self.fabric.virtual.views()):
            return None
        try:
            planned, _ = self.fabric.queries.plan(exp.select("*").from_(exp.to_table(name)).sql(dialect="duckdb"))
        except GovfabricError:
            return None
        return dict.fromkeys(planned.output_columns)

    def create(self, doc: dict[str, Any]) -> ItemRow:
        """Store a spec as the next version of its item (a steward or an admin); refused whole on
        any problem."""
        actor = self.fabric.actor
        actor.require(*AUTHORS, action="create service items")
        spec, problems = self.validate(doc)
        if spec is None:
            raise ValidationFailed(f"item spec {doc.get('name', '?')!s:.64} is not valid; nothing was written",
                                   problems)
        body = json.dumps(spec.raw, sort_keys=True, ensure_ascii=False)
        with self.store.session() as s:
            last = s.scalar(select(func.max(ItemRow.version)).where(ItemRow.name == spec.name)) or 0
            row = ItemRow(name=spec.name, version=last + 1, title=spec.title, spec=spec.raw,
                          sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(), created_by=actor.name)
            s.add(row)
            s.flush()
            append(s, actor.name, "prefill.item.create", f"item:{spec.name}",
                   {"version": row.version, "sha256": row.sha256, "fields": len(spec.fields),
                    "materials": len(spec.materials), "principal": spec.principal})
            return row

    def get(self, name: str, version: int | None = None) -> ItemRow:
        with self.store.session() as s:
            q = select(ItemRow).where(ItemRow.name == name)
            q = q.where(ItemRow.version == version) if version else q.order_by(ItemRow.version.desc())
            row = s.scalars(q.limit(1)).first() if NAME_RE.match(name or "") else None
        if row is None:
            raise NotFound(f"no service item {name[:64]!r}" + (f" version {version}" if version else "")
                           + "; list them with `govfabric item list`")
        return row

    def spec(self, name: str, version: int | None = None) -> ItemSpec:
        return _parsed(self.get(name, version))

    def list(self) -> list[ItemRow]:
        """The latest version of every item."""
        with self.store.session() as s:
            latest = select(ItemRow.name, func.max(ItemRow.version).label("v")).group_by(ItemRow.name).subquery()
            return list(s.scalars(select(ItemRow).join(latest, (ItemRow.name == latest.c.name)
                                                       & (ItemRow.version == latest.c.v)).order_by(ItemRow.name)))

    def describe(self, name: str, version: int | None = None) -> dict[str, Any]:
        row = self.get(name, version)
        return {"name": row.name, "version": row.version, "title": row.title, "sha256": row.sha256,
                "created_by": row.created_by, "created_at": row.created_at.isoformat(), "spec": row.spec,
                "consent_scope": spec_from_stored(row.spec).consent_scope()}

    # -- runs ---------------------------------------------------------------------------------------

    def run(self, item: str, applicant_id: str, *, scenario: str | None = None) -> dict[str, Any]:
        """Prefill ``item`` for the applicant: fields with provenance and display masks, eligibility,
        materials (attached, needed, 容缺 with a due date). The caller is the item's service
        principal or an admin; reads run as the service principal."""
        row = self.get(item)
        spec = _parsed(row)
        actor = self.fabric.actor
        if actor.name != spec.principal and "admin" not in actor.roles:
            raise AccessDenied(f"{actor.name} may not prefill {spec.name}: only its service principal "
                               f"{spec.principal} (or an admin) runs it")
        applicant = self._applicant(spec, applicant_id)
        reader = self.fabric if self.fabric.user == spec.principal else self.fabric.as_user(spec.principal)
        consents = reader.security.consent
        digest = consents.subject_hash(applicant)
        scope = spec.consent_scope()
        consent_id, decision = None, None
        if scope:
            decision = consents.check(applicant, spec.purpose, scope, spec.principal)
            if not decision.allowed:
                missing = decision.missing_scope or scope
                reason = f"{decision.reason}; missing: {', '.join(missing)}"
                self._record(actor.name, row, spec, digest, [], [], "refused", reason, decision.consent_id, [])
                raise ConsentMissing(
                    f"the applicant has not authorised {spec.title} ({spec.purpose}) for {spec.principal}: "
                    f"{decision.reason}; missing consent for {', '.join(missing)} — record it with `govfabric "
                    f"security consent give` (purpose {spec.purpose!r}, grantee {spec.principal})")
            consent_id = decision.consent_id
        # the guarded reads' records, the licence library's read and the call record: one transaction
        with recorded_together(reader.queries) as record_reads:
            fields = self._fill(reader, spec, applicant)
            raw = {f["name"]: f["value"] for f in fields if f["status"] == "filled"}
            eligibility = []
            for r in spec.eligibility:
                holds = evaluate(r, raw)
                eligibility.append({"rule": r.text, "holds": holds, "reason": None if holds else r.reason
                                    if holds is False else f"{r.field} has no value: cannot tell"})
            chosen = self._scenario(spec, scenario, raw)
            with self.store.session():
                record_reads()
                materials = self._materials(reader, spec, applicant, chosen, decision)
                read_fields = [f["name"] for f in fields if f["status"] == "filled"]
                licences = [m["licence"]["type_code"] for m in materials if m.get("licence")]
                call_id = self._record(actor.name, row, spec, digest, read_fields, licences, "filled", None,
                                       consent_id, [m for m in materials if m["status"] == "deferred"])
        for m in materials:
            if m["status"] == "deferred":
                m["due"] = m["due"].isoformat()
        return {"item": spec.name, "version": row.version, "title": spec.title, "call_id": call_id,
                "principal": spec.principal, "consent_id": consent_id, "fields": fields,
                "eligibility": {"eligible": all(e["holds"] for e in eligibility), "rules": eligibility},
                "scenario": chosen, "materials": materials}

    def _applicant(self, spec: ItemSpec, applicant_id: str) -> str:
        from govfabric.governance.security.consent import normalise_subject

        if not isinstance(applicant_id, str) or len(applicant_id) > 64:
            raise ValidationFailed("the applicant identifier must be a resident ID number or a credit code")
        try:
            value = normalise_subject(applicant_id)
        except ValidationFailed as exc:
            raise ValidationFailed(f"the applicant identifier is not valid: {exc}; check the number "
                                   "(resident ID per GB 11643, or credit code per GB 32100)") from None
        enterprise = is_valid_uscc(value)
        if spec.applicant == "person" and enterprise:
            raise ValidationFailed(f"{spec.title} is for persons: give the applicant's resident ID number")
        if spec.applicant == "enterprise" and not enterprise:
            raise ValidationFailed(f"{spec.title} is for enterprises: give the unified social credit code")
        return value

    def _groups(self, spec: ItemSpec) -> builtins.list[_Group]:
        by: dict[tuple[str, str, str | None], list[FormField]] = {}
        for f in spec.fields:
            if f.shared and f.source:
                by.setdefault((f.source.table, f.source.key, f.source.key_field), []).append(f)
        # groups keyed by the applicant first: the others take their key from those
        return [_Group(t, k, kf, tuple(fs)) for (t, k, kf), fs in sorted(by.items(), key=lambda i: i[0][2] is not None)]

    def _fill(self, reader: Fabric, spec: ItemSpec, applicant: str) -> builtins.list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        groups = self._groups(spec)
        first = self._read_together(reader, [g for g in groups if g.key_field is None], applicant)
        for g in groups:
            key = applicant
            if g in first:
                self._place(out, g, first[g])
                continue
            if g.key_field is not None:
                ref = out.get(g.key_field)
                if ref is None or ref["status"] != "filled" or ref["value"] is None:
                    for f in g.fields:
                        out[f.name] = self._field(f, g, "unavailable", None,
                                                  f"{g.key_field} has no value to look {g.table} up by")
                    continue
                key = str(ref["value"])
            try:
                got = self._read(reader, g, key)
            except Exception as exc:  # one source failing leaves the others filled
                reason = str(exc).splitlines()[0][:300] if isinstance(exc, GovfabricError) else \
                    f"source unavailable ({type(exc).__name__})"
                for f in g.fields:
                    out[f.name] = self._field(f, g, "unavailable", None, reason)
                continue
            self._place(out, g, got)
        result = []
        for f in spec.fields:
            if f.name in out:
                result.append(out[f.name])
            else:
                result.append({"name": f.name, "label": f.label, "component": f.component, "required": f.required,
                               "shared": False, "editable": True, "status": "applicant", "value": None,
                               "display": None, "provenance": None, "reason": None})
        return result

    def _place(self, out: dict[str, dict[str, Any]], g: _Group, got: dict[str, Any] | None) -> None:
        for f in g.fields:
            if got is None:
                whose = f"the {g.key_field} given" if g.key_field else "this applicant"
                out[f.name] = self._field(f, g, "not_found", None, f"no row in {g.table} for {whose} (a key "
                                          "column masked for the service principal matches nothing)")
            else:
                out[f.name] = self._field(f, g, "filled", got[f.source.column], None)  # type: ignore[union-attr]

    def _field(self, f: FormField, g: _Group, status: str, value: Any, reason: str | None) -> dict[str, Any]:
        value = _plain(value)
        return {"name": f.name, "label": f.label, "component": f.component, "required": f.required, "shared": True,
                "editable": f.editable, "status": status, "value": value, "display": display(value, f.mask),
                "mask": f.mask, "reason": reason,
                "provenance": {"department": f.department, "table": g.table, "column": f.source.column,  # type: ignore[union-attr]
                               "as_of": utcnow().isoformat()}}

    def _read_together(self, reader: Fabric, groups: builtins.list[_Group], key: str
                       ) -> dict[_Group, dict[str, Any] | None]:
        """The groups keyed by the applicant read in ONE guarded SELECT (each table a subquery,
        joined ON TRUE so that a table without the row leaves only its own columns empty): one plan,
        one record instead of one per table. Anything unusual — a failing source, more than one row
        for a key — returns nothing here, and the groups are read one by one, which says which."""
        if len(groups) < 2:
            return {}
        def build() -> exp.Select:
            outputs: builtins.list[exp.Expr] = []
            for n, g in enumerate(groups):
                alias = f"g{n}"
                for c in [*_columns(g), "hit__"]:
                    outputs.append(exp.alias_(exp.column(c, table=alias, quoted=True), f"{alias}__{c}",
                                              quoted=True))
            base = exp.select(*outputs).from_(self._sub(groups[0]).subquery("g0"))
            for n, g in enumerate(groups[1:], start=1):
                base = base.join(self._sub(g).subquery(f"g{n}"), on=exp.true(), join_type="FULL OUTER")
            return base

        try:  # the key bound once per table: the text, and so the cached plan, is the item's, not the applicant's
            batches = list(reader.queries.stream(_shape_sql(tuple(groups), build), params=[key] * len(groups)))
        except Exception:  # each group is read alone next, which names the failure
            return {}
        rows = pa.Table.from_batches(batches).to_pylist() if batches else []
        if len(rows) > 1:
            return {}
        row = rows[0] if rows else {}
        got: dict[_Group, dict[str, Any] | None] = {}
        for n, g in enumerate(groups):
            if not row.get(f"g{n}__hit__"):
                got[g] = None
            else:
                got[g] = {c: row[f"g{n}__{c}"] for c in dict.fromkeys(f.source.column for f in g.fields)}  # type: ignore[union-attr]
        return got

    @staticmethod
    def _sub(g: _Group) -> exp.Select:
        return (exp.select(*[exp.column(c, quoted=True) for c in _columns(g)],
                           exp.alias_(exp.true(), "hit__", quoted=True))
                .from_(exp.to_table(g.table))
                .where(exp.EQ(this=exp.column(g.key, quoted=True), expression=exp.Placeholder())).limit(2))

    def _read(self, reader: Fabric, g: _Group, key: str) -> dict[str, Any] | None:
        """One SELECT through the guarded path as the service principal; the key a bound parameter
        (a text column, checked by ``validate``), so every applicant reuses the table's plan."""
        def build() -> exp.Select:
            return (exp.select(*[exp.column(c, quoted=True) for c in _columns(g)]).from_(exp.to_table(g.table))
                    .where(exp.EQ(this=exp.column(g.key, quoted=True), expression=exp.Placeholder())).limit(2))

        batches = list(reader.queries.stream(_shape_sql((g,), build), params=[key]))
        rows = pa.Table.from_batches(batches).to_pylist() if batches else []
        if len(rows) > 1:
            raise ValidationFailed(f"{g.table} holds more than one row for this key; the source is ambiguous")
        return rows[0] if rows else None

    def _scenario(self, spec: ItemSpec, name: str | None, values: dict[str, Any]) -> str | None:
        if name is not None:
            if not any(s.name == name for s in spec.scenarios):
                raise ValidationFailed(f"{spec.name} has no scenario {name[:64]!r}; it has "
                                       f"{', '.join(s.name for s in spec.scenarios) or 'none'}")
            return name
        for s in spec.scenarios:
            if s.when is None or evaluate(s.when, values):
                return s.name
        return None

    def _materials(self, reader: Fabric, spec: ItemSpec, applicant: str, scenario: str | None,
                   consent: ConsentDecision | None = None) -> builtins.list[dict[str, Any]]:
        """The scenario's materials: licences attached when they verify (read on the run's consent
        decision, not checked again), the others needed or 容缺."""
        wanted = next((set(s.materials) for s in spec.scenarios if s.name == scenario), None)
        out = []
        held: list[Any] | str | None = None
        for m in spec.materials:
            if wanted is not None and m.name not in wanted:
                continue
            entry: dict[str, Any] = {"name": m.name, "label": m.label, "channel": m.channel, "type": m.type,
                                     "form": m.form, "copies": m.copies, "department": m.department}
            if m.licence_type and m.shared:
                if held is None:
                    held = self._holder_licences(reader, applicant, spec, consent)
                entry.update(self._attach(reader, m, held, spec, consent))
            else:
                entry.update(status="needed", reason="to be provided by the applicant")
            if entry["status"] == "needed" and m.deferrable_days:
                entry.update(status="deferred", due=date.today() + timedelta(days=m.deferrable_days),
                             reason=f"容缺: may be handed in within {m.deferrable_days} days")
            out.append(entry)
        return out

    @staticmethod
    def _holder_licences(reader: Fabric, applicant: str, item: ItemSpec,
                         consent: ConsentDecision | None) -> builtins.list[Any] | str:
        lib = getattr(reader, "licences", None)
        if lib is None:
            return "the licence library is not installed in this workspace"
        try:
            return list(lib.for_holder(applicant, item=item, consent=consent))
        except GovfabricError as exc:
            return str(exc).splitlines()[0]

    @staticmethod
    def _attach(reader: Fabric, m: Material, held: builtins.list[Any] | str, item: ItemSpec,
                consent: ConsentDecision | None) -> dict[str, Any]:
        if isinstance(held, str):
            return {"status": "needed", "reason": held}
        candidates = sorted((lic for lic in held if lic.type_code == m.licence_type),
                            key=lambda lic: str(lic.valid_until or "9999"), reverse=True)
        if not candidates:
            return {"status": "needed", "reason": f"no licence of type {m.licence_type} in the licence library "
                                                  "for this applicant"}
        reasons: list[str] = []
        for lic in candidates:
            v = reader.licences.verify(lic.id, item=item, consent=consent)
            if v.ok:
                return {"status": "attached", "reason": None, "licence": {
                    "id": lic.id, "identifier": lic.identifier, "type_code": lic.type_code, "type_name": lic.type_name,
                    "authority": lic.authority, "valid_until": _plain(lic.valid_until), "sha256": lic.sha256,
                    "file_name": lic.file_name},
                    "verification": {"ok": True, "reasons": list(v.reasons), "checked_at": _plain(v.checked_at)}}
            reasons += [f"{lic.identifier}: {r}" for r in v.reasons] or [f"{lic.identifier}: did not verify"]
        return {"status": "needed", "reason": "not attached: " + "; ".join(reasons),
                "verification": {"ok": False, "reasons": reasons}}

    def _record(self, by: str, row: ItemRow, spec: ItemSpec, digest: str, fields: builtins.list[str],
                licences: builtins.list[str], status: str, reason: str | None, consent_id: str | None,
                deferred: builtins.list[dict[str, Any]]) -> str:
        """The call, its 容缺 materials and its audit event: one transaction. ``by``: the actor the
        run checked (not read again: the run's own reads moved the store's change counter)."""
        with self.store.session() as s:
            call = CallRow(item=spec.name, item_version=row.version, actor=by, principal=spec.principal,
                           applicant_hash=digest, fields=fields, licences=licences, status=status, reason=reason,
                           consent_id=consent_id)
            s.add(call)
            s.flush()
            for m in deferred:
                s.add(PendingRow(call_id=call.id, item=spec.name, material=m["name"], applicant_hash=digest,
                                 due=m["due"]))
            append(s, by, "prefill.run", f"item:{spec.name}", {
                "call": call.id, "version": row.version, "principal": spec.principal, "applicant": digest[:16],
                "fields": fields, "licences": licences, "status": status, "consent": consent_id,
                "deferred": [m["name"] for m in deferred]})
            return call.id

    # -- history and 容缺 ---------------------------------------------------------------------------

    def history(self, applicant_id: str | None = None) -> builtins.list[dict[str, Any]]:
        """Who read what of this applicant, and when: for stewards, auditors and admins any applicant's;
        for an applicant (a person principal an admin linked with ``applicant_id``) only their own
        (``applicant_id`` may then be left out); anyone else is refused."""
        digest = self._history_subject(applicant_id)
        with self.store.session() as s:
            rows = list(s.scalars(select(CallRow).where(CallRow.applicant_hash == digest).order_by(CallRow.at)))
            append(s, self.fabric.user, "prefill.history", f"applicant:{digest[:16]}", {"calls": len(rows)})
        return [{"call_id": r.id, "at": r.at.isoformat(), "item": r.item, "version": r.item_version, "by": r.actor,
                 "principal": r.principal, "fields": r.fields, "licences": r.licences, "status": r.status,
                 "reason": r.reason} for r in rows]

    def _history_subject(self, applicant_id: str | None) -> str:
        """The keyed hash of the applicant whose history the actor may read; AccessDenied otherwise."""
        from govfabric.prefill.applicants import linked_applicant

        actor = self.fabric.actor
        if actor.has(*HISTORY_READERS):
            if applicant_id is None:
                raise ValidationFailed("say whose history to read (--applicant ID)")
            return self._hash(applicant_id)
        own = linked_applicant(self.fabric)
        if own is None:
            actor.require(*HISTORY_READERS, action="read prefill history (an applicant reads their own once an "
                          "admin links them with the principal attribute applicant_id)")
        digest = self._hash(applicant_id) if applicant_id is not None else ""
        if applicant_id is not None and digest != self._hash(own):  # type: ignore[arg-type]
            raise AccessDenied(f"{actor.name} may read only their own prefill history, not another applicant's")
        return self._hash(own)  # type: ignore[arg-type]

    def _hash(self, applicant_id: str) -> str:
        from govfabric.governance.security.consent import normalise_subject

        try:
            value = normalise_subject(applicant_id if isinstance(applicant_id, str) else "")
        except ValidationFailed as exc:
            raise ValidationFailed(f"the applicant identifier is not valid: {exc}") from None
        return self.fabric.security.consent.subject_hash(value)

    def pending(self, *, applicant_id: str | None = None, overdue_only: bool = False) -> builtins.list[dict[str, Any]]:
        """容缺 materials still to hand in (overdue ones first to remind)."""
        self.fabric.actor.require(*HISTORY_READERS, "business_system", action="read pending materials")
        with self.store.session() as s:
            q = select(PendingRow).where(PendingRow.status == "pending").order_by(PendingRow.due)
            if applicant_id is not None:
                q = q.where(PendingRow.applicant_hash == self._hash(applicant_id))
            if overdue_only:
                q = q.where(PendingRow.due < date.today())
            rows = list(s.scalars(q))
        today = date.today()
        return [{"id": r.id, "item": r.item, "material": r.material, "applicant": r.applicant_hash[:16],
                 "due": r.due.isoformat(), "overdue": r.due < today, "call_id": r.call_id} for r in rows]

    def submit(self, pending_id: str) -> None:
        """Mark a 容缺 material handed in."""
        actor = self.fabric.actor
        actor.require("steward", "business_system", action="record handed-in materials")
        with self.store.session() as s:
            row = s.get(PendingRow, pending_id) if isinstance(pending_id, str) and len(pending_id) <= 32 else None
            if row is None or row.status != "pending":
                raise NotFound("no pending material with that id; list them with `govfabric prefill reminders`")
            row.status, row.resolved_at, row.resolved_by = "submitted", utcnow(), actor.name
            append(s, actor.name, "prefill.submit", f"pending:{row.id}", {"item": row.item, "material": row.material})
