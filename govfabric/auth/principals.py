"""Principals and roles.

Roles exist from the start because owners, favourites, approvals and audit need
them. ``require(role…)`` is the one way service functions check who may act.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from govfabric.auth.audit import append
from govfabric.auth.models import Principal
from govfabric.errors import AccessDenied, AlreadyExists, NotFound, ValidationFailed

ROLES: dict[str, str] = {
    "admin": "manages the workspace, principals and everything else",
    "steward": "data steward (数据管理员): registers sources and assets, classifies, approves access",
    "analyst": "searches the catalog and queries granted data",
    "auditor": "reads the audit trail, lineage and provenance",
    "business_system": "a business system (业务系统) calling APIs with signed requests",
    "reviewer": "共享主管部门: reviews sharing offers (share review) and sets sharing time limits",
}
KINDS = ("person", "application", "business_system")
SYSTEM = "system"
#: anonymous visitors of the open-data portal act as this principal. It has no roles, so nothing
#: granted to a role (``role:analyst``) ever reaches them: only what is granted to it by name
#: (publishing a 无条件开放 share does that).
PUBLIC = "public"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a snapshot of a principal used by service functions."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    department: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))

    def require(self, *roles: str, action: str) -> None:
        if not self.has(*roles):
            need = " or ".join(roles)
            raise AccessDenied(f"{self.name} may not {action}: needs role {need} "
                               f"(has: {', '.join(sorted(self.roles)) or 'none'}); ask an admin")


def _check_roles(roles: list[str]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(f"unknown role(s) {', '.join(unknown)}; known roles: {', '.join(ROLES)}")


def get(session: Session, name: str) -> Principal:
    p = session.scalar(select(Principal).where(Principal.name == name))
    if p is None:
        raise NotFound(f"no principal named {name!r}; list them with `govfabric principal list`")
    return p


def actor_of(p: Principal) -> Actor:
    if not p.active:
        raise AccessDenied(f"principal {p.name!r} is deactivated")
    return Actor(p.name, frozenset(p.roles or []), p.department, dict(p.attributes or {}))


def add(session: Session, by: str, name: str, *, roles: list[str], kind: str = "person",
        display_name: str | None = None, department: str | None = None,
        attributes: dict[str, Any] | None = None) -> Principal:
    name = name.strip()
    if not name or len(name) > 128 or any(c.isspace() for c in name):
        raise ValidationFailed(f"principal name {name!r} must be 1–128 characters without spaces")
    if kind not in KINDS:
        raise ValidationFailed(f"unknown principal kind {kind!r}; use one of {', '.join(KINDS)}")
    _check_roles(roles)
    if session.scalar(select(Principal.id).where(Principal.name == name)):
        raise AlreadyExists(f"principal {name!r} already exists")
    p = Principal(name=name, roles=sorted(set(roles)), kind=kind, display_name=display_name,
                  department=department, attributes=attributes or {})
    session.add(p)
    session.flush()
    append(session, by, "principal.add", f"principal:{name}",
           {"roles": p.roles, "kind": kind, "department": department})
    return p


def set_roles(session: Session, by: str, name: str, roles: list[str]) -> Principal:
    _check_roles(roles)
    if not roles:
        raise ValidationFailed(f"give {name} at least one role; to stop it acting, disable it")
    p = get(session, name)
    if "admin" not in roles:
        _keep_an_admin(session, p, "take the admin role from")
    old = list(p.roles)
    p.roles = sorted(set(roles))
    append(session, by, "principal.roles", f"principal:{name}", {"from": old, "to": p.roles})
    return p


def set_active(session: Session, by: str, name: str, active: bool) -> Principal:
    """Disable (or enable again) a principal: every open session refuses it from its next call."""
    p = get(session, name)
    if not active:
        _keep_an_admin(session, p, "disable")
    if p.active != active:
        p.active = active
        append(session, by, "principal.enable" if active else "principal.disable", f"principal:{name}", {})
    return p


def _keep_an_admin(session: Session, p: Principal, what: str) -> None:
    """The workspace keeps at least one active admin (else nobody could add or enable principals)."""
    if not p.active or "admin" not in (p.roles or []):
        return
    others = [q for q in session.scalars(select(Principal).where(Principal.active.is_(True), Principal.id != p.id))
              if "admin" in (q.roles or [])]
    if not others:
        raise ValidationFailed(f"cannot {what} {p.name}: it is the last active admin; make another principal "
                               "admin first (`govfabric principal set-role NAME admin`)")


def ensure_public(session: Session, by: str) -> Principal:
    """:data:`PUBLIC`, created (roleless application, audited as ``by``) the first time it is needed."""
    found = session.scalar(select(Principal).where(Principal.name == PUBLIC))
    if found is not None:
        return found
    p = add(session, by, PUBLIC, roles=[], kind="application", display_name="匿名访客 (anonymous visitors)")
    session.flush()
    return p


def list_all(session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).order_by(Principal.name)))


def roles_of(session: Session, name: str) -> list[str] | None:
    """The roles of the principal ``name`` (active or not), or ``None`` when there is none."""
    return session.scalar(select(Principal.roles).where(Principal.name == name))


def roles_before_upgrade(connection: Connection, name: str) -> tuple[list[str], bool] | None:
    """(roles, active) of the principal ``name``, or ``None`` when there is none: a plain query of the
    columns every revision has, so it works on a store older than the models (before ``upgrade``).
    Raises ``SQLAlchemyError`` when the store has no principals table yet."""
    row = connection.execute(select(Principal.roles, Principal.active).where(Principal.name == name)).first()
    return None if row is None else (list(row.roles or []), bool(row.active))
