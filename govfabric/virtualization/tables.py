"""Virtual tables and views (§8.4.2.2): stable names that hide where data lives.

A virtual table maps a catalog asset's physical columns to stable virtual names
(renames, casts, hidden columns). When the source changes, a steward re-points the
mapping (``remap``) and consumers' SQL keeps returning the same result. A view is
SQL over virtual names, versioned with its dependencies; a table or view whose
upstream no longer matches is flagged ``broken`` instead of silently answering wrong.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from govfabric.auth import principals
from govfabric.auth.audit import append
from govfabric.catalog.read import asset_by_id, source_by_id, source_of
from govfabric.errors import AccessDenied, AlreadyExists, NotFound, QueryRejected, ValidationFailed
from govfabric.governance.lineage.events import record_view, record_virtual_table
from govfabric.hooks import TableCreated, TableRemapped, emit
from govfabric.store.base import utcnow
from govfabric.virtualization.cache import Resolved
from govfabric.virtualization.engines.base import Binding
from govfabric.virtualization.models import (
    ColumnMask,
    Grant,
    RowFilterPolicy,
    VirtualTableRow,
    VirtualViewRow,
    VirtualViewVersion,
)
from govfabric.virtualization.policy import VirtualColumn, VirtualTable, VirtualView, unknown_name

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor
    from govfabric.catalog.models import Asset
    from govfabric.fabric import Fabric

#: analysts keep views only in their own schema, ``u_<principal>`` (see :func:`user_schema`)
USER_SCHEMA_PREFIX = "u_"
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$")
#: CJK (Unified Ideographs and Extension A) is admitted for ``--keep-names`` tables, quoted in SQL
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
#: a column's definition as its owners see it, and as everyone else does (``describe``)
MAPPING_FIELDS = ("name", "cn_name", "type", "physical", "expr", "hidden", "note")
PUBLIC_FIELDS = ("name", "cn_name", "type")
COL_RE = re.compile(rf"^[a-z_{_CJK}][a-z0-9_{_CJK}]{{0,62}}$")


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME_RE.match(name):
        raise ValidationFailed(f"virtual name {name!r} must be schema.name in lowercase letters, digits and _")
    return name


def user_schema(principal: str) -> str:
    """The one schema a principal without the steward role may keep views in."""
    return (USER_SCHEMA_PREFIX + re.sub(r"[^a-z0-9_]", "_", principal.lower()))[:63]


def _safe_column_name(physical: str) -> str:
    """A default virtual name: Chinese characters become their pinyin initials (统一社会信用代码 →
    ``tyshxydm``, the convention of Chinese government databases), ASCII is kept in lower case."""
    if not physical.isascii():
        from pypinyin import Style, lazy_pinyin

        physical = "".join(lazy_pinyin(physical, style=Style.FIRST_LETTER))
        physical = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", physical.lower())).strip("_") or "c"
    n = re.sub(r"[^a-z0-9_]", "_", physical.lower())
    return n if COL_RE.match(n) else f"c_{n}"[:63]


def _kept_name(physical: str) -> str:
    """``--keep-names``: the source's own (Chinese) name, other characters as ``_``."""
    n = re.sub(rf"[^a-z0-9_{_CJK}]", "_", physical.lower())
    return n if COL_RE.match(n) else f"c_{n}"[:63]


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… when another column already has it."""
    out, i = name, 2
    while out in taken:
        out = f"{name[:60]}_{i}"
        i += 1
    return out


#: source types (by source kind) that DuckDB and Trino read as different values (PostgreSQL's
#: ``interval`` is an interval in DuckDB and text in Trino; ``inet`` prints ``/32`` in DuckDB
#: only): created hidden, so no query meets them unawares. ``--cast`` exposes one on purpose.
ENGINE_DIVERGENT_TYPES: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"interval", "inet", "cidr", "macaddr", "macaddr8"}),
}


def divergent_type(kind: str, data_type: str | None) -> bool:
    base = re.sub(r"\(.*|\[\]$", "", (data_type or "").lower()).strip()
    return base in ENGINE_DIVERGENT_TYPES.get(kind, frozenset())


class CatalogResolver:
    """Resolves virtual names to tables/views with their physical reference per engine.

    ``memo`` (shared between queries while the catalog is unchanged, see ``cache.py``) keeps
    what was resolved; names that do not resolve are looked up again every time."""

    def __init__(self, session: Session, engines: list[str], memo: dict[str, Resolved] | None = None) -> None:
        from govfabric.virtualization.engines import engine_class

        self.session = session
        self.engines = {n: engine_class(n) for n in engines}
        self.bindings: dict[str, Binding] = {}
        self.memo = memo

    def names(self) -> list[str]:
        return sorted(list(self.session.scalars(select(VirtualTableRow.name)))
                      + list(self.session.scalars(select(VirtualViewRow.name))))

    def resolve(self, name: str) -> VirtualTable | VirtualView:
        name = name.lower()
        hit = self.memo.get(name) if self.memo is not None else None
        if hit is None:
            obj = self._lookup(name)
            hit = Resolved(obj, self.bindings.get(obj.name) if isinstance(obj, VirtualTable) else None)
            if self.memo is not None:
                self.memo[name] = hit
        if hit.binding is not None:
            self.bindings[hit.obj.name] = hit.binding
        return hit.obj

    def _lookup(self, name: str) -> VirtualTable | VirtualView:
        row = self.session.scalar(select(VirtualTableRow).where(VirtualTableRow.name == name))
        if row is not None:
            return self.table(row)
        view = self.session.scalar(select(VirtualViewRow).where(VirtualViewRow.name == name))
        if view is not None:
            if view.status == "broken":
                raise QueryRejected(f"view {name} is broken ({view.problem}); its owner must redefine it")
            return VirtualView(view.name, view.sql, view.dialect)
        raise unknown_name("table", name, self.names())

    def table(self, row: VirtualTableRow) -> VirtualTable:
        binding = self.binding(row)
        problem = table_problem(row, binding.asset)
        if problem:
            raise QueryRejected(f"virtual table {row.name} is broken: {problem}; a steward must remap it "
                                f"(`govfabric vt map {row.name} …`)")
        physical = {}
        for ename, cls in self.engines.items():
            ref = cls.physical_ref(binding) if binding.source.kind in cls.SOURCE_KINDS else None
            if ref is not None:
                physical[ename] = ref
        self.bindings[row.name] = binding
        cols = tuple(VirtualColumn(c["name"], c.get("type") or "VARCHAR", physical=c.get("physical"),
                                   expr=c.get("expr"), hidden=bool(c.get("hidden"))) for c in row.columns)
        return VirtualTable(row.name, physical, cols)

    def binding(self, row: VirtualTableRow) -> Binding:
        """Detached copies of the asset (with its columns) and its source: a binding outlives the
        session (plans are cached), whose instances a rollback expires and its owner may change."""
        asset = asset_by_id(self.session, row.asset_id)
        if asset is None or asset.source_id is None:
            raise QueryRejected(f"virtual table {row.name}: its asset is gone or has no source")
        source = source_of(self.session, asset)
        assert source is not None
        return Binding(_copy(source), _copy(asset, columns=[_copy(c) for c in asset.columns]))


def _copy(obj: Any, **extra: Any) -> Any:
    """A transient copy of a mapped instance's column values (JSON values copied one level)."""
    attrs = sa_inspect(obj).mapper.column_attrs
    values = {a.key: getattr(obj, a.key) for a in attrs}
    return type(obj)(**{k: copy.copy(v) if isinstance(v, dict | list) else v for k, v in values.items()}, **extra)


def table_problem(row: VirtualTableRow, asset: Asset) -> str | None:
    if asset.status != "active":
        return f"asset {asset.qualified_name} was dropped at its source"
    have = {c.name for c in asset.columns}
    missing = [c["physical"] for c in row.columns if c.get("physical") and c["physical"] not in have]
    if missing:
        return f"physical column(s) {', '.join(missing)} no longer exist in {asset.qualified_name}"
    return None


class VirtualObjects:
    """Create, list and maintain virtual tables and views."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    def create_table(self, name: str, asset: str, *, renames: dict[str, str] | None = None,
                     casts: dict[str, str] | None = None, hidden: list[str] | None = None,
                     only: list[str] | None = None, description: str | None = None,
                     keep_names: bool = False) -> VirtualTableRow:
        """``renames`` physical→virtual; ``casts`` virtual→SQL type; ``hidden`` virtual names. Other
        columns are named by :func:`_safe_column_name` (pinyin initials), or with ``keep_names``
        keep their Chinese names (quoted in SQL: ``SELECT "统一社会信用代码" …``)."""
        default_name = _kept_name if keep_names else _safe_column_name
        actor = self.fabric.actor
        actor.require("steward", action="create virtual tables")
        name = check_name(name)
        renames, casts, hidden = renames or {}, casts or {}, [h.lower() for h in hidden or []]
        with self.store.session() as s:
            if s.scalar(select(VirtualTableRow.id).where(VirtualTableRow.name == name)) or \
                    s.scalar(select(VirtualViewRow.id).where(VirtualViewRow.name == name)):
                raise AlreadyExists(f"virtual name {name} is taken")
            a = self.fabric.catalog.resolve(s, asset)
            self._may_govern(s, actor, VirtualTableRow(name=name, asset_id=a.id), "create virtual tables over")
            if a.source_id is None:
                raise ValidationFailed(f"{a.qualified_name} was registered by hand and has no data to read")
            a.require_columns([*renames, *(only or [])])
            cols = []
            source = source_by_id(s, a.source_id)
            kind = source.kind if source is not None else ""
            taken = {v.lower() for k, v in renames.items() if not only or k in only}
            for c in a.columns:
                if only and c.name not in only:
                    continue
                vname = renames[c.name].lower() if c.name in renames else _unique(default_name(c.name), taken)
                taken.add(vname)
                if not COL_RE.match(vname):
                    raise ValidationFailed(f"virtual column name {vname!r}: use lowercase letters, digits, _ "
                                           "(or Chinese characters)")
                parity = divergent_type(kind, c.data_type) and vname not in casts
                col: dict[str, Any] = {"name": vname, "type": c.data_type,
                                       "cn_name": c.cn_name or (None if c.name.isascii() else c.name),
                                       "hidden": vname in hidden or parity, "physical": c.name}
                if parity:
                    col["note"] = (f"hidden: DuckDB and Trino read {c.data_type} differently; "
                                   f"expose it with --cast {vname}=TYPE")
                if vname in casts:
                    col.pop("physical")
                    col["expr"] = f"CAST({_quote(c.name)} AS {casts[vname]})"
                    col["type"] = casts[vname]
                cols.append(col)
            names = [c["name"] for c in cols]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValidationFailed(f"virtual column names collide: {', '.join(sorted(dup))}; rename them")
            bad = [x for x in list(casts) + hidden if x not in names]
            if bad:
                raise ValidationFailed(f"no virtual column(s) {', '.join(bad)} in {name}")
            row = VirtualTableRow(name=name, asset_id=a.id, columns=cols, description=description,
                                  created_by=actor.name)
            s.add(row)
            s.flush()
            append(s, actor.name, "vt.create", f"vt:{name}", {"asset": a.qualified_name, "columns": names})
            record_virtual_table(self.fabric, s, row)
            # default masks belong to the table: created in its transaction, all or nothing
            emit(TableCreated(self.fabric, s, row))
        return row

    def _may_govern(self, s: Session, actor: Actor, row: VirtualTableRow, action: str) -> None:
        """The owning department's steward or an admin (the rule grants follow, ``Access._may_decide``)."""
        self.fabric.access._may_decide(s, actor, row, action=action)

    def remap(self, name: str, mapping: dict[str, str]) -> VirtualTableRow:
        """Point virtual columns at (new) physical columns, absorbing a change at the source."""
        actor = self.fabric.actor
        actor.require("steward", action="remap virtual tables")
        with self.store.session() as s:
            row = self._table(s, name)
            self._may_govern(s, actor, row, "remap")
            asset = asset_by_id(s, row.asset_id)
            assert asset is not None
            cols = [dict(c) for c in row.columns]
            by = {c["name"]: c for c in cols}
            for vcol, phys in mapping.items():
                if vcol not in by:
                    raise ValidationFailed(f"{name} has no virtual column {vcol!r}")
                asset.require_columns([phys])
                if "expr" in by[vcol]:
                    by[vcol]["expr"] = re.sub(r'CAST\(".*?" AS', f"CAST({_quote(phys)} AS", by[vcol]["expr"])
                else:
                    by[vcol]["physical"] = phys
            row.columns = cols
            row.version += 1
            problem = table_problem(row, asset)
            row.status, row.problem = ("broken", problem) if problem else ("ok", None)
            append(s, actor.name, "vt.remap", f"vt:{name}", {"mapping": mapping, "version": row.version})
            s.flush()
            record_virtual_table(self.fabric, s, row)
            # masks are keyed by virtual column: a column now reading personal data gets its default mask
            emit(TableRemapped(self.fabric, s, row))
            return row

    def drop_table(self, name: str, *, force: bool = False) -> list[str]:
        """Drop a virtual table (owning department's steward or admin) with its masks, row filters
        and grants (revoked), so a later table of the same name inherits nothing. Refused while
        views read it unless ``force``: they are then flagged broken. Returns the dependants."""
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._table(s, name)
            self._may_govern(s, actor, row, "drop")
            deps = self._release_dependants(s, row.name, row.name, force)
            s.execute(delete(ColumnMask).where(ColumnMask.table_name == row.name))
            s.execute(delete(RowFilterPolicy).where(RowFilterPolicy.table_name == row.name))
            revoked = list(s.scalars(select(Grant.id).where(Grant.table_name == row.name,
                                                            Grant.revoked_at.is_(None))))
            s.execute(update(Grant).where(Grant.id.in_(revoked)).values(revoked_at=utcnow(), revoked_by=actor.name))
            s.delete(row)
            append(s, actor.name, "vt.drop", f"vt:{row.name}",
                   {"forced": force, "dependants": deps, "revoked_grants": revoked})
            return deps

    @staticmethod
    def _dependants(s: Session, name: str) -> list[str]:
        return sorted(v.name for v in s.scalars(select(VirtualViewRow)) if name in (v.depends_on or []))

    def _release_dependants(self, s: Session, name: str, what: str, force: bool) -> list[str]:
        """Before a drop: refuse while views read ``name`` unless ``force``, then flag them broken."""
        deps = self._dependants(s, name)
        if deps and not force:
            raise ValidationFailed(f"{what} is read by view(s) {', '.join(deps)}; drop or redefine "
                                   "them first, or force it with --force (they become broken)")
        for v in s.scalars(select(VirtualViewRow).where(VirtualViewRow.name.in_(deps))):
            v.status, v.problem = "broken", f"{name} was dropped"
        return deps

    def _table(self, s: Session, name: str) -> VirtualTableRow:
        row = s.scalar(select(VirtualTableRow).where(VirtualTableRow.name == name.lower()))
        if row is None:
            raise NotFound(f"no virtual table {name}; list them with `govfabric vt list`")
        return row

    def table(self, name: str) -> VirtualTableRow:
        with self.store.session() as s:
            return self._table(s, name)

    def describe(self, name: str) -> dict[str, Any]:
        """What the acting principal may see of a table's definition: its owners (the owning
        department's steward, admins) the whole mapping; everyone else the visible columns'
        names, Chinese names and types — no physical names, expressions or hidden columns."""
        with self.store.session() as s:
            row = self._table(s, name)
            full = bool(self.fabric.access.governed(s, {row.name}))
        keys = MAPPING_FIELDS if full else PUBLIC_FIELDS
        cols = [{k: c.get(k) for k in keys} for c in row.columns if full or not c.get("hidden")]
        return {"name": row.name, "version": row.version, "status": row.status, "fields": list(keys),
                "columns": cols}

    def tables(self) -> list[VirtualTableRow]:
        """All virtual tables, each with its current status recomputed against the catalog."""
        with self.store.session() as s:
            rows = list(s.scalars(select(VirtualTableRow).order_by(VirtualTableRow.name)))
            for row in rows:
                asset = asset_by_id(s, row.asset_id)
                problem = table_problem(row, asset) if asset else "asset removed"
                status = "broken" if problem else "ok"
                if (row.status, row.problem) != (status, problem):
                    row.status, row.problem = status, problem
            return rows

    def create_view(self, name: str, sql: str, *, dialect: str = "duckdb", description: str | None = None,
                    replace: bool = False) -> VirtualViewRow:
        """Who may: stewards and admins in any shared schema, everyone else only in its own schema
        ``u_<principal>``; the definer must be able to read everything the view reads (admins
        excepted: readers are checked at query time in any case). Replacing: see ``_may_change_view``."""
        actor = self.fabric.actor
        actor.require("steward", "analyst", action="define virtual views")
        name = check_name(name)
        self._check_namespace(actor, name)
        deps = self.view_dependencies(sql, dialect, exclude=name)
        with self.store.session() as s:
            if s.scalar(select(VirtualTableRow.id).where(VirtualTableRow.name == name)):
                raise AlreadyExists(f"{name} is a virtual table")
            row = s.scalar(select(VirtualViewRow).where(VirtualViewRow.name == name))
            if row is not None and not replace:
                raise AlreadyExists(f"view {name} exists; use --replace to define a new version")
            if row is not None:
                self._may_change_view(s, actor, row, "replace")
            if not actor.has("admin"):
                self._check_readable(actor, sql, dialect)
            if row is None:
                row = VirtualViewRow(name=name, sql=sql, dialect=dialect, depends_on=deps, created_by=actor.name,
                                     description=description)
                s.add(row)
            else:
                row.sql, row.dialect, row.depends_on, row.version = sql, dialect, deps, row.version + 1
                row.status, row.problem = "ok", None
            s.flush()
            s.add(VirtualViewVersion(view_id=row.id, version=row.version, sql=sql, dialect=dialect,
                                     depends_on=deps, created_by=actor.name))
            append(s, actor.name, "view.define", f"view:{name}", {"version": row.version, "depends_on": deps})
            record_view(self.fabric, s, row)
            return row

    def drop_view(self, name: str, *, force: bool = False) -> list[str]:
        """Drop a view (its owner, a steward of the owner's department, or an admin); refused while
        other views read it unless ``force`` (they become broken). Returns the dependants."""
        actor = self.fabric.actor
        with self.store.session() as s:
            row = s.scalar(select(VirtualViewRow).where(VirtualViewRow.name == name.lower()))
            if row is None:
                raise NotFound(f"no view {name}; list them with `govfabric view list`")
            self._may_change_view(s, actor, row, "drop")
            deps = self._release_dependants(s, row.name, f"view {row.name}", force)
            s.execute(delete(VirtualViewVersion).where(VirtualViewVersion.view_id == row.id))
            s.delete(row)
            append(s, actor.name, "view.drop", f"view:{row.name}", {"forced": force, "dependants": deps})
            return deps

    @staticmethod
    def _may_change_view(s: Session, actor: Actor, row: VirtualViewRow, action: str) -> None:
        """A view belongs to its creator and the creator's department: the creator, a steward of
        that department, or an admin may replace or drop it (someone else's scheduled export of
        a view must not start reading what a third party put there)."""
        if actor.has("admin") or actor.name == row.created_by:
            return
        try:
            department = principals.get(s, row.created_by).department
        except NotFound:
            department = None
        if actor.has("steward") and department is not None and actor.department == department:
            return
        raise AccessDenied(f"{actor.name} may not {action} view {row.name}: it belongs to {row.created_by}; only "
                           f"its owner, a steward of {department or 'its department'} or an admin may. "
                           f"Define your own view in {user_schema(actor.name)}.<name>")

    @staticmethod
    def _check_namespace(actor: Actor, name: str) -> None:
        schema = name.split(".", 1)[0]
        own = user_schema(actor.name)
        if schema == own or actor.has("admin"):
            return
        if schema.startswith(USER_SCHEMA_PREFIX):
            raise AccessDenied(f"{schema} is another principal's namespace; {actor.name} keeps views in {own}.<name>")
        if not actor.has("steward"):
            raise AccessDenied(f"{actor.name} may keep views only in its own namespace: name it {own}.<name> "
                               f"(shared schemas such as {schema} are for stewards)")

    def _check_readable(self, actor: Actor, sql: str, dialect: str) -> None:
        """Plan the view's SQL under the definer's own grants: a view never reaches beyond them."""
        from govfabric.virtualization.pipeline import plan

        with self.store.session() as s:
            plan(sql, dialect=dialect, engine="duckdb", resolver=CatalogResolver(s, ["duckdb"]),
                 policy=self.fabric.access.policy_for(actor, s))

    def view_dependencies(self, sql: str, dialect: str, exclude: str | None = None) -> list[str]:
        """Plan the view's SQL with full access to learn (and check) what it reads."""
        from govfabric.virtualization.pipeline import plan
        from govfabric.virtualization.policy import Policy, TableGrant

        with self.store.session() as s:
            resolver = CatalogResolver(s, ["duckdb"])
            all_tables = {n: TableGrant() for n in s.scalars(select(VirtualTableRow.name))}
            planned = plan(sql, dialect=dialect, engine="duckdb", resolver=resolver,
                           policy=Policy("system", all_tables))
            deps = sorted(set(planned.tables_used) | set(planned.views_used))
            if exclude in deps:
                raise QueryRejected(f"view {exclude} cannot read itself")
            return deps

    def views(self) -> list[VirtualViewRow]:
        """All views, each re-checked: a view whose dependencies no longer plan is flagged broken."""
        with self.store.session() as s:
            rows = list(s.scalars(select(VirtualViewRow).order_by(VirtualViewRow.name)))
        for row in rows:
            try:
                self.view_dependencies(row.sql, row.dialect, exclude=row.name)
                status, problem = "ok", None
            except Exception as exc:  # any planning failure means the view no longer holds
                status, problem = "broken", str(exc).splitlines()[0]
            if (row.status, row.problem) != (status, problem):
                with self.store.session() as s:
                    r = s.get(VirtualViewRow, row.id)
                    assert r is not None
                    r.status, r.problem = status, problem
                    append(s, "system", "view.status", f"view:{row.name}", {"status": status, "problem": problem})
                row.status, row.problem = status, problem
        return rows

    def view_versions(self, name: str) -> list[VirtualViewVersion]:
        with self.store.session() as s:
            row = s.scalar(select(VirtualViewRow).where(VirtualViewRow.name == name.lower()))
            if row is None:
                raise NotFound(f"no view {name}")
            return list(s.scalars(select(VirtualViewVersion).where(VirtualViewVersion.view_id == row.id)
                                  .order_by(VirtualViewVersion.version)))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
