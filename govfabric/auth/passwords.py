"""Passwords and browser sessions for people using the portal.

Passwords are stored only as argon2id hashes. A session is a random cookie value; like access
tokens (:mod:`govfabric.auth.tokens`) the store keeps only its keyed digest, so a copy of the store
opens no session. Sessions expire and end at logout; every login, failed login and logout is audited."""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from govfabric.auth import principals
from govfabric.auth.audit import append
from govfabric.auth.models import PasswordHash, Principal, WebSession
from govfabric.auth.tokens import TokenRefused
from govfabric.errors import AccessDenied, AuthenticationRequired, NotFound, ValidationFailed
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

SESSION_PREFIX = "gfs_"
#: the portal's session cookie
COOKIE = "gf_session"
KEY_PURPOSE = "portal-sessions"
SESSION_TTL = timedelta(hours=8)
MIN_LENGTH = 10
_HASHER = PasswordHasher()
#: verified against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY = _HASHER.hash("not-a-password-" + _secrets.token_hex(8))


def set_password(fabric: Fabric, name: str, password: str) -> None:
    """Set ``name``'s portal password (the person themself, or an admin); audited, never stored plain.
    Every open session of ``name`` ends."""
    actor = fabric.actor
    if actor.name != name:
        actor.require("admin", action="set another principal's password")
    if len(password) < MIN_LENGTH or len(password) > 1024:
        raise ValidationFailed(f"a password needs {MIN_LENGTH} to 1024 characters; choose a longer one")
    hashed = _HASHER.hash(password)
    with fabric.store.session() as s:
        principals.get(s, name)
        row = s.get(PasswordHash, name)
        if row is None:
            s.add(PasswordHash(principal=name, hash=hashed))
        else:
            row.hash, row.updated_at = hashed, utcnow()
        # a new password ends every open session (one opened with a leaked password or a stolen cookie)
        open_sessions = list(s.scalars(select(WebSession).where(WebSession.principal == name,
                                                                WebSession.ended_at.is_(None))))
        for ws in open_sessions:
            ws.ended_at = utcnow()
        ended = len(open_sessions)
        append(s, actor.name, "auth.password.set", f"principal:{name}", {"sessions_ended": ended})


def digest(fabric: Fabric, token: str) -> str:
    return hmac.new(fabric.secrets.derive(KEY_PURPOSE), token.encode(), hashlib.sha256).hexdigest()


def login(fabric: Fabric, name: str, password: str, *, client: str | None = None,
          ttl: timedelta = SESSION_TTL) -> str:
    """Check the password and open a session; returns the cookie value (shown once).
    ``fabric`` is the server's origin façade. A failure says nothing about which part was wrong."""
    name = name.strip()[:128]
    with fabric.store.session() as s:
        row = s.get(PasswordHash, name) if name else None
        p = s.scalar(select(Principal).where(Principal.name == name)) if row else None
        try:
            _HASHER.verify(row.hash if row else _DUMMY, password)
            ok = row is not None and p is not None and p.active
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            append(s, name or "(empty)", "portal.login_failed", f"principal:{name}", {"client": client})
    if not ok:  # audited in its own transaction above, then refused
        raise AuthenticationRequired("the name or password is wrong; try again or ask an admin for "
                                     "`govfabric principal set-password`")
    token = SESSION_PREFIX + _secrets.token_urlsafe(32)
    with fabric.store.session() as s:
        if row is not None and _HASHER.check_needs_rehash(row.hash):
            stored = s.get(PasswordHash, name)
            if stored is not None:
                stored.hash = _HASHER.hash(password)
        ws = WebSession(principal=name, digest=digest(fabric, token), expires_at=utcnow() + ttl)
        s.add(ws)
        s.flush()
        append(s, name, "portal.login", f"session:{ws.id}", {"client": client,
                                                             "expires_at": ws.expires_at.isoformat()})
    return token


def authenticate(fabric: Fabric, token: str) -> str:
    """The principal an open session acts as; raises :class:`TokenRefused` (like access tokens)."""
    if not token.startswith(SESSION_PREFIX) or len(token) > 200:
        raise TokenRefused("session_invalid", "the session cookie is not a govfabric session")
    with fabric.store.session() as s:
        row = s.scalar(select(WebSession).where(WebSession.digest == digest(fabric, token)))
        if row is None or row.ended_at is not None:
            raise TokenRefused("session_invalid", "the session is not known or has ended; sign in again")
        if row.expires_at <= utcnow():
            raise TokenRefused("session_expired", "the session has expired; sign in again")
        if not principals.get(s, row.principal).active:
            raise TokenRefused("principal_disabled", f"principal {row.principal!r} is deactivated")
        return row.principal


def logout(fabric: Fabric, token: str) -> None:
    """End the session of this cookie value (idempotent); audited."""
    with fabric.store.session() as s:
        row = s.scalar(select(WebSession).where(WebSession.digest == digest(fabric, token)))
        if row is None:
            raise NotFound("no such session; it has already ended")
        if row.ended_at is None:
            row.ended_at = utcnow()
            append(s, row.principal, "portal.logout", f"session:{row.id}", {})


def require_person(fabric: Fabric, name: str) -> None:
    """Passwords are for people: applications and business systems sign their calls."""
    with fabric.store.session() as s:
        p = principals.get(s, name)
        if p.kind != "person":
            raise AccessDenied(f"{name} is a {p.kind}; only people sign in to the portal (apps sign requests)")
