"""Business systems (业务系统) calling the API: each app is a principal of kind ``business_system``
with a key id and a shared secret for HTTP Message Signatures (RFC 9421). The secret is shown once
and stored sealed with the workspace SecretBox, never plain; grants, masks, row filters and audit
apply to the app's principal exactly as to a person."""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from govfabric.auth import principals
from govfabric.auth.audit import append
from govfabric.auth.models import AppCredential, Principal
from govfabric.errors import AccessDenied, NotFound, ValidationFailed
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

ALGORITHMS = ("hmac-sha256", "hmac-sm3")
ROLE = "business_system"


@dataclass(frozen=True)
class AppInfo:
    """An app as listed (no secret)."""

    name: str
    key_id: str
    alg: str
    department: str | None
    active: bool
    created_at: datetime
    rotated_at: datetime | None


@dataclass(frozen=True)
class Issued:
    """What ``add`` and ``rotate`` hand back once: the key id and the plain secret."""

    name: str
    key_id: str
    secret: str
    alg: str


@dataclass(frozen=True)
class Credential:
    """What the server needs to verify a request: the app's principal, its secret and limits."""

    principal: str
    key_id: str
    secret: bytes
    alg: str
    active: bool
    rate_limit: str | None
    daily_quota: str | None


def _new_secret() -> str:
    return _secrets.token_urlsafe(32)


def _check_alg(alg: str) -> None:
    if alg not in ALGORITHMS:
        raise ValidationFailed(f"unknown signature algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")


def _may_manage(fabric: Fabric, department: str | None) -> None:
    """Admins manage every app; a steward manages the apps of their own department."""
    actor = fabric.actor
    if "admin" in actor.roles:
        return
    if "steward" in actor.roles and department is not None and actor.department == department:
        return
    raise AccessDenied(f"{actor.name} may not manage apps of department {department or '(none)'}: needs role "
                       "admin, or steward of that department; ask an admin")


def add(fabric: Fabric, name: str, *, department: str, alg: str = "hmac-sha256",
        display_name: str | None = None, rate_limit: str | None = None,
        daily_quota: str | None = None) -> Issued:
    """A new app: its principal (kind business_system) and its signing credential."""
    _check_alg(alg)
    if not department or not department.strip():
        raise ValidationFailed("an app belongs to a department; give --department")
    _may_manage(fabric, department)
    secret = _new_secret()
    key_id = "app_" + _secrets.token_hex(8)
    with fabric.store.session() as s:
        principals.add(s, fabric.actor.name, name, roles=[ROLE], kind=ROLE, display_name=display_name,
                       department=department)
        s.add(AppCredential(principal=name.strip(), key_id=key_id, secret_sealed=fabric.secrets.seal(secret),
                            alg=alg, rate_limit=rate_limit, daily_quota=daily_quota))
        append(s, fabric.actor.name, "app.add", f"app:{name.strip()}",
               {"key_id": key_id, "alg": alg, "department": department})
    return Issued(name.strip(), key_id, secret, alg)


def _get(s: object, name: str) -> tuple[AppCredential, Principal]:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    row = s.scalar(select(AppCredential).where(AppCredential.principal == name))
    if row is None:
        raise NotFound(f"no app named {name!r}; list them with `govfabric app list`")
    return row, principals.get(s, name)


def rotate(fabric: Fabric, name: str) -> Issued:
    """A new secret (and key id): the old one stops working at once."""
    with fabric.store.session() as s:
        row, p = _get(s, name)
        _may_manage(fabric, p.department)
        secret = _new_secret()
        old = row.key_id
        row.key_id = "app_" + _secrets.token_hex(8)
        row.secret_sealed = fabric.secrets.seal(secret)
        row.rotated_at = utcnow()
        _moved(s)
        append(s, fabric.actor.name, "app.rotate", f"app:{name}", {"old_key_id": old, "key_id": row.key_id})
        return Issued(name, row.key_id, secret, row.alg)


def set_active(fabric: Fabric, name: str, active: bool) -> AppInfo:
    """Disable (or enable again) an app's credential: its signed requests, and bearer tokens made for
    its principal, get 401 app_disabled."""
    with fabric.store.session() as s:
        row, p = _get(s, name)
        _may_manage(fabric, p.department)
        if row.active != active:
            row.active = active
            _moved(s)
            append(s, fabric.actor.name, "app.enable" if active else "app.disable", f"app:{name}",
                   {"key_id": row.key_id})
        return _info(row, p)


def _moved(s: object) -> None:
    """Credentials are kept by the server under the store's generation: move it (same transaction)."""
    from govfabric.virtualization.cache import bump

    bump(s)  # type: ignore[arg-type]


def _info(row: AppCredential, p: Principal) -> AppInfo:
    return AppInfo(row.principal, row.key_id, row.alg, p.department, row.active, row.created_at, row.rotated_at)


def list_apps(fabric: Fabric) -> list[AppInfo]:
    """Apps the acting principal may manage (admins: all; stewards: their department's)."""
    actor = fabric.actor
    if not actor.has("steward"):
        raise AccessDenied(f"{actor.name} may not list apps: needs role admin or steward")
    with fabric.store.session() as s:
        rows = s.execute(select(AppCredential, Principal).join(Principal, Principal.name == AppCredential.principal)
                         .order_by(AppCredential.principal)).all()
        return [_info(a, p) for a, p in rows
                if "admin" in actor.roles or p.department == actor.department]


def credential(fabric: Fabric, key_id: str) -> Credential | None:
    """The credential for a signature's key id (None when unknown); the secret is opened here only."""
    with fabric.store.session() as s:
        row = s.scalar(select(AppCredential).where(AppCredential.key_id == key_id))
        if row is None:
            return None
        return Credential(row.principal, row.key_id, fabric.secrets.open(row.secret_sealed).encode(), row.alg,
                          row.active, row.rate_limit, row.daily_quota)
