"""apply → approve → grant (§8.4.2.2c), masks and row filters: who reads what.

Default deny. A principal reads a virtual table through grants to itself or to one
of its roles (``role:NAME``), each limited to columns, an optional row filter (may
use the principal's attributes: ``principal_attr('region')``) and an expiry. The
owning department's stewards read their own tables. Column masks apply to everyone
not explicitly granted the column unmasked. Every step is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govfabric.auth.audit import append
from govfabric.auth.principals import ROLES, Actor
from govfabric.auth.readpath import may_steward, require_steward
from govfabric.catalog.read import asset_by_id, owner_department_of
from govfabric.errors import AccessDenied, NotFound, ValidationFailed
from govfabric.hooks import GrantMade, GrantRevoked, emit
from govfabric.store.base import utcnow
from govfabric.virtualization.masks import MASKS, check_params, keyed
from govfabric.virtualization.models import AccessRequest, ColumnMask, Grant, RowFilterPolicy, VirtualTableRow
from govfabric.virtualization.policy import GrantPart, MaskSpec, Policy, TableGrant

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def _until(d: date | None) -> datetime | None:
    return datetime.combine(d, time.max, tzinfo=UTC) if d else None


#: what others see instead of a row filter's text or a mask's parameters
HIDDEN = "(shown to the owning department's steward)"


def require_owner(actor: Actor, department: str | None, what: str) -> None:
    """The owner rule (``readpath.require_steward``): a steward of the owning ``department`` (any
    steward when it has none) or an admin. Every change to a virtual table, its grants and
    policies, and other modules' steward actions on an asset go through it."""
    require_steward(actor, department, what)


def _check_predicate(expr: str) -> None:
    """A row filter must be one boolean expression over columns (parsed, never interpolated)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(expr, read="duckdb", into=exp.Condition)
    except Exception as exc:
        raise ValidationFailed(f"row filter {expr!r} is not a SQL condition: {exc}") from exc
    if tree.find(exp.Select, exp.Command):
        raise ValidationFailed("a row filter may not contain subqueries")


class Access:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- apply / approve / reject -------------------------------------------------------------

    def request(self, table: str, *, columns: list[str] | None, purpose: str, until: date | None) -> AccessRequest:
        actor = self.fabric.actor
        if not purpose or len(purpose.strip()) < 4:
            raise ValidationFailed("say what the data is for: --purpose is required (≥ 4 characters)")
        if until is not None and until < date.today():
            raise ValidationFailed(f"--until {until} is in the past")
        with self.store.session() as s:
            row = self._vt(s, table)
            self._check_columns(row, columns)
            req = AccessRequest(requester=actor.name, table_name=row.name, columns=columns, purpose=purpose.strip(),
                                until=until)
            s.add(req)
            s.flush()
            append(s, actor.name, "access.request", f"vt:{row.name}",
                   {"request": req.id, "columns": columns, "purpose": purpose, "until": str(until or "")})
            return req

    def _may_decide(self, s: Session, actor: Actor, row: VirtualTableRow, *,
                    action: str = "decide on access to") -> None:
        """The owner rule for every change to a virtual table, its grants and policies: a steward of
        the asset's department (any steward for an asset without one) or an admin."""
        asset = asset_by_id(s, row.asset_id)
        require_owner(actor, asset.owner_department if asset else None, f"{action} {row.name}")

    def approve(self, request_id: int, *, row_filter: str | None = None, until: date | None = None,
                reason: str | None = None) -> Grant:
        actor = self.fabric.actor
        with self.store.session() as s:
            req = self._pending(s, request_id)
            row = self._vt(s, req.table_name)
            if req.requester == actor.name:
                raise AccessDenied("you may not approve your own request")
            self._may_decide(s, actor, row)
            if row_filter:
                _check_predicate(row_filter)
            g = Grant(grantee=req.requester, table_name=row.name, columns=req.columns, row_filter=row_filter,
                      expires_at=_until(until or req.until), purpose=req.purpose, request_id=req.id,
                      granted_by=actor.name)
            s.add(g)
            s.flush()
            req.status, req.decided_by, req.decided_at, req.reason, req.grant_id = \
                "approved", actor.name, utcnow(), reason, g.id
            append(s, actor.name, "access.approve", f"vt:{row.name}",
                   {"request": req.id, "grant": g.id, "to": req.requester, "columns": req.columns,
                    "row_filter": row_filter, "until": str(until or req.until or "")})
            emit(GrantMade(self.fabric, s, g))  # e.g. recorded on chain; an error undoes the grant
            return g

    def reject(self, request_id: int, reason: str) -> AccessRequest:
        actor = self.fabric.actor
        if not reason:
            raise ValidationFailed("give the requester a reason (--reason)")
        with self.store.session() as s:
            req = self._pending(s, request_id)
            self._may_decide(s, actor, self._vt(s, req.table_name))
            req.status, req.decided_by, req.decided_at, req.reason = "rejected", actor.name, utcnow(), reason
            append(s, actor.name, "access.reject", f"vt:{req.table_name}",
                   {"request": req.id, "to": req.requester, "reason": reason})
            return req

    def requests(self, status: str | None = None, mine: bool = False) -> list[AccessRequest]:
        """Requests; principals who decide or audit none see only their own (others' purposes are theirs)."""
        actor = self.fabric.actor
        with self.store.session() as s:
            q = select(AccessRequest).order_by(AccessRequest.id)
            if status:
                q = q.where(AccessRequest.status == status)
            if mine or not actor.has("steward", "auditor"):
                q = q.where(AccessRequest.requester == actor.name)
            return list(s.scalars(q))

    def _pending(self, s: Session, request_id: int) -> AccessRequest:
        req = s.get(AccessRequest, request_id)
        if req is None:
            raise NotFound(f"no access request {request_id}; list them with `govfabric access requests`")
        if req.status != "pending":
            raise ValidationFailed(f"request {request_id} was already {req.status} by {req.decided_by}")
        return req

    # -- direct grants ---------------------------------------------------------------------------

    def grant(self, grantee: str, table: str, *, columns: list[str] | None = None, row_filter: str | None = None,
              until: date | None = None, unmasked: list[str] | None = None, purpose: str | None = None) -> Grant:
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._vt(s, table)
            self._may_decide(s, actor, row)
            self._check_grantee(s, grantee)
            self._check_columns(row, columns)
            self._check_columns(row, unmasked)
            if row_filter:
                _check_predicate(row_filter)
            g = Grant(grantee=grantee, table_name=row.name, columns=columns, row_filter=row_filter,
                      expires_at=_until(until), unmasked=unmasked or [], purpose=purpose, granted_by=actor.name)
            s.add(g)
            s.flush()
            append(s, actor.name, "access.grant", f"vt:{row.name}",
                   {"grant": g.id, "to": grantee, "columns": columns, "row_filter": row_filter,
                    "unmasked": unmasked or [], "until": str(until or "")})
            emit(GrantMade(self.fabric, s, g))  # e.g. recorded on chain; an error undoes the grant
            return g

    def revoke(self, grant_id: int, reason: str | None = None) -> Grant:
        actor = self.fabric.actor
        with self.store.session() as s:
            g = s.get(Grant, grant_id)
            if g is None or g.revoked_at is not None:
                raise NotFound(f"no active grant {grant_id}")
            self._may_decide(s, actor, self._vt(s, g.table_name))
            g.revoked_at, g.revoked_by = utcnow(), actor.name
            append(s, actor.name, "access.revoke", f"vt:{g.table_name}",
                   {"grant": g.id, "from": g.grantee, "reason": reason})
            emit(GrantRevoked(self.fabric, s, g))  # e.g. the revocation goes on chain; an error undoes it
            return g

    def grants(self, table: str | None = None, grantee: str | None = None,
               include_inactive: bool = False) -> list[Grant]:
        """Grants; principals who decide or audit none see only those to themselves or their roles."""
        actor = self.fabric.actor
        with self.store.session() as s:
            q = select(Grant).order_by(Grant.id)
            if not actor.has("steward", "auditor"):
                q = q.where(Grant.grantee.in_([actor.name, *(f"role:{r}" for r in actor.roles)]))
            if table:
                q = q.where(Grant.table_name == table.lower())
            if grantee:
                q = q.where(Grant.grantee == grantee)
            rows = list(s.scalars(q))
            if not include_inactive:
                now = utcnow()
                rows = [g for g in rows if g.revoked_at is None and (g.expires_at is None or g.expires_at > now)]
            return rows

    # -- masks and row-filter policies -----------------------------------------------------------

    def set_mask(self, table: str, column: str, rule: str, params: dict[str, Any] | None = None) -> ColumnMask:
        actor = self.fabric.actor
        if rule not in MASKS:
            raise ValidationFailed(f"unknown mask rule {rule!r}; rules: {', '.join(sorted(MASKS))}")
        check_params(rule, params or {})
        with self.store.session() as s:
            row = self._vt(s, table)
            self._may_decide(s, actor, row)
            self._check_columns(row, [column])
            m = s.scalar(select(ColumnMask).where(ColumnMask.table_name == row.name,
                                                  ColumnMask.column_name == column.lower()))
            if m is None:
                m = ColumnMask(table_name=row.name, column_name=column.lower(), rule=rule, params=params or {},
                               created_by=actor.name)
                s.add(m)
            else:
                m.rule, m.params = rule, params or {}
            append(s, actor.name, "policy.mask", f"vt:{row.name}", {"column": column, "rule": rule})
            return m

    def remove_mask(self, table: str, column: str) -> None:
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._vt(s, table)
            self._may_decide(s, actor, row)
            m = s.scalar(select(ColumnMask).where(ColumnMask.table_name == row.name,
                                                  ColumnMask.column_name == column.lower()))
            if m is None:
                raise NotFound(f"no mask on {row.name}.{column}")
            s.delete(m)
            append(s, actor.name, "policy.unmask", f"vt:{row.name}", {"column": column})

    def masks(self, table: str | None = None) -> list[ColumnMask]:
        """Masks (which columns, which rule); their parameters only on tables the acting principal
        governs (they may hold a salt)."""
        with self.store.session() as s:
            q = select(ColumnMask).order_by(ColumnMask.table_name, ColumnMask.column_name)
            if table:
                q = q.where(ColumnMask.table_name == table.lower())
            rows = list(s.scalars(q))
            governed = self.governed(s, {m.table_name for m in rows})
            s.expunge_all()  # detached: hiding a field below never reaches the store
        for m in rows:
            if m.table_name not in governed:
                m.params = {}
        return rows

    def add_row_filter(self, table: str, applies_to: str, expr: str) -> RowFilterPolicy:
        actor = self.fabric.actor
        _check_predicate(expr)
        with self.store.session() as s:
            row = self._vt(s, table)
            self._may_decide(s, actor, row)
            if applies_to != "*":
                self._check_grantee(s, applies_to)
            _compile_filter(s, row, expr)
            p = RowFilterPolicy(table_name=row.name, applies_to=applies_to, expr=expr, created_by=actor.name)
            s.add(p)
            s.flush()
            append(s, actor.name, "policy.row_filter", f"vt:{row.name}", {"to": applies_to, "expr": expr})
            return p

    def remove_row_filter(self, filter_id: int) -> None:
        """Remove a row-filter policy (owning department's steward or admin)."""
        actor = self.fabric.actor
        with self.store.session() as s:
            p = s.get(RowFilterPolicy, filter_id)
            if p is None:
                raise NotFound(f"no row filter {filter_id}; list them with `govfabric policy list`")
            self._may_decide(s, actor, self._vt(s, p.table_name))
            s.delete(p)
            append(s, actor.name, "policy.row_filter_remove", f"vt:{p.table_name}",
                   {"filter": filter_id, "to": p.applies_to, "expr": p.expr})

    def row_filters(self, table: str | None = None) -> list[RowFilterPolicy]:
        """Row-filter policies; their text only on tables the acting principal governs (a filter
        names the values it keeps, and who else is filtered how is not an analyst's to read)."""
        with self.store.session() as s:
            q = select(RowFilterPolicy).order_by(RowFilterPolicy.id)
            if table:
                q = q.where(RowFilterPolicy.table_name == table.lower())
            rows = list(s.scalars(q))
            governed = self.governed(s, {p.table_name for p in rows})
            s.expunge_all()
        for p in rows:
            if p.table_name not in governed:
                p.expr = HIDDEN
        return rows

    def governed(self, s: Session, names: set[str]) -> set[str]:
        """The virtual tables among ``names`` whose policies the acting principal may change
        (and so read in full): the owning department's steward, or an admin."""
        actor = self.fabric.actor
        if not names:
            return set()
        rows = s.execute(select(VirtualTableRow.name, owner_department_of(VirtualTableRow.asset_id))
                         .where(VirtualTableRow.name.in_(names))).all()
        return {name for name, owner in rows if may_steward(actor, owner)}

    # -- the policy the pipeline enforces --------------------------------------------------------

    def policy_for(self, actor: Actor, session: Session | None = None) -> Policy:
        """Active grants, masks and row filters of ``actor``, as the pipeline's ``Policy``."""
        return self.policy_until(actor, session)[0]

    def policy_until(self, actor: Actor, session: Session | None = None) -> tuple[Policy, datetime | None]:
        """:meth:`policy_for` and the moment it stops holding without any write: the earliest
        expiry of the grants it was built from (``None``: not before the next write)."""
        with self.store.session() as s:
            s = session or s
            me = [actor.name, *(f"role:{r}" for r in actor.roles)]
            now = utcnow()
            grants = [g for g in s.scalars(select(Grant).where(Grant.grantee.in_(me), Grant.revoked_at.is_(None))
                                           .order_by(Grant.id))
                      if g.expires_at is None or g.expires_at > now]
            until = min((g.expires_at for g in grants if g.expires_at is not None), default=None)
            by_table: dict[str, list[Grant]] = {}
            for g in grants:
                by_table.setdefault(g.table_name, []).append(g)
            owned = set()
            if actor.has("steward") and actor.department:
                owned = set(s.scalars(select(VirtualTableRow.name)
                                      .where(owner_department_of(VirtualTableRow.asset_id) == actor.department)))
            masks: dict[str, dict[str, MaskSpec]] = {}
            for m in s.scalars(select(ColumnMask)):
                masks.setdefault(m.table_name, {})[m.column_name] = MaskSpec(m.rule, keyed(m.params, self.fabric))
            filters: dict[str, list[str]] = {}
            for p in s.scalars(select(RowFilterPolicy).where(or_(RowFilterPolicy.applies_to.in_(me),
                                                                RowFilterPolicy.applies_to == "*"))):
                filters.setdefault(p.table_name, []).append(p.expr)
            tables: dict[str, TableGrant] = {}
            for name in set(by_table) | owned:
                if name in owned:
                    tables[name] = TableGrant(None, {}, tuple(filters.get(name, ())))
                    continue
                # each grant stays a part of its own: grants never combine into more (docs/security-model.md)
                parts = tuple(GrantPart(None if g.columns is None else frozenset(g.columns), g.row_filter,
                                        frozenset(g.unmasked or ())) for g in by_table[name])
                tables[name] = TableGrant(masks=masks.get(name, {}), row_filters=tuple(filters.get(name, ())),
                                          parts=parts)
            return Policy(actor.name, tables, dict(actor.attributes)), until

    # -- helpers ------------------------------------------------------------------------------------

    def _vt(self, s: Session, table: str) -> VirtualTableRow:
        row = s.scalar(select(VirtualTableRow).where(VirtualTableRow.name == table.lower()))
        if row is None:
            raise NotFound(f"no virtual table {table}; list them with `govfabric vt list`")
        return row

    @staticmethod
    def _check_columns(row: VirtualTableRow, columns: list[str] | None) -> None:
        if not columns:
            return
        have = {c["name"] for c in row.columns if not c.get("hidden")}
        bad = [c for c in columns if c.lower() not in have]
        if bad:
            raise ValidationFailed(f"{row.name} has no visible column(s) {', '.join(bad)}; columns: "
                                   + ", ".join(sorted(have)))

    @staticmethod
    def _check_grantee(s: Session, grantee: str) -> None:
        from govfabric.auth import principals

        if grantee.startswith("role:"):
            if grantee[5:] not in ROLES:
                raise ValidationFailed(f"unknown role {grantee[5:]!r}; roles: {', '.join(ROLES)}")
            return
        principals.get(s, grantee)


class _AnyAttributes(dict):  # type: ignore[type-arg]
    """Every principal attribute present (as ''): compiles a filter without a particular principal."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> Any:
        return ""


def _compile_filter(s: Session, row: VirtualTableRow, expr: str) -> None:
    """Compile a row filter against its table now, as queries will: unknown columns, other
    tables or forbidden functions are refused when the filter is made, not at the next query."""
    from govfabric.errors import GovfabricError
    from govfabric.virtualization.policy import Policy, TableGrant
    from govfabric.virtualization.rewrite import compile_row_filter
    from govfabric.virtualization.tables import CatalogResolver

    vt = CatalogResolver(s, []).table(row)
    try:
        compile_row_filter(vt, TableGrant(), expr, Policy("system", {}, _AnyAttributes()))
    except GovfabricError as exc:
        raise ValidationFailed(f"row filter {expr!r} does not compile against {row.name}: {exc}") from None


