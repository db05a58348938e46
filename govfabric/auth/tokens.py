"""Personal access tokens for people calling the API (``Authorization: Bearer gft_…``).

A token is shown once; the store keeps only its keyed digest (HMAC-SHA256 with a workspace-derived
key), so a copy of the store yields no usable token. Tokens expire and can be revoked."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from govfabric.auth import principals
from govfabric.auth.audit import append
from govfabric.auth.models import AccessToken, AppCredential
from govfabric.errors import AccessDenied, NotFound, ValidationFailed
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

PREFIX = "gft_"
KEY_PURPOSE = "access-tokens"
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TokenInfo:
    id: str
    principal: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` → a timedelta."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValidationFailed(f"duration {text!r} is not understood; use e.g. 30d, 12h, 90m or 2w")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def digest(fabric: Fabric, token: str) -> str:
    return hmac.new(fabric.secrets.derive(KEY_PURPOSE), token.encode(), hashlib.sha256).hexdigest()


def create(fabric: Fabric, *, name: str | None = None, expires: timedelta | None = timedelta(days=30)
           ) -> tuple[str, TokenInfo]:
    """A new token for the acting principal; returns the plain token (shown once) and its record."""
    actor = fabric.actor
    token = PREFIX + _secrets.token_urlsafe(32)
    with fabric.store.session() as s:
        row = AccessToken(principal=actor.name, name=name, digest=digest(fabric, token),
                          expires_at=(utcnow() + expires) if expires else None)
        s.add(row)
        s.flush()
        append(s, actor.name, "token.create", f"token:{row.id}",
               {"name": name, "expires_at": row.expires_at.isoformat() if row.expires_at else None})
        return token, _info(row)


def _info(row: AccessToken) -> TokenInfo:
    return TokenInfo(row.id, row.principal, row.name, row.created_at, row.expires_at, row.revoked_at)


def list_tokens(fabric: Fabric, *, everyone: bool = False) -> list[TokenInfo]:
    """The acting principal's tokens (an admin may list everyone's)."""
    actor = fabric.actor
    if everyone:
        actor.require("admin", action="list everyone's tokens")
    with fabric.store.session() as s:
        q = select(AccessToken).order_by(AccessToken.created_at)
        if not everyone:
            q = q.where(AccessToken.principal == actor.name)
        return [_info(r) for r in s.scalars(q)]


def revoke(fabric: Fabric, token_id: str) -> TokenInfo:
    """Revoke a token (its owner, or an admin): it is refused from the next request."""
    actor = fabric.actor
    with fabric.store.session() as s:
        row = s.get(AccessToken, token_id)
        if row is None:
            raise NotFound(f"no token {token_id!r}; list yours with `govfabric token list`")
        if row.principal != actor.name and "admin" not in actor.roles:
            raise AccessDenied(f"{actor.name} may not revoke another principal's token; ask an admin")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            append(s, actor.name, "token.revoke", f"token:{row.id}", {"principal": row.principal})
            from govfabric.virtualization.cache import bump

            bump(s)  # a server's cache of checked tokens is dropped with this commit
        return _info(row)


class TokenRefused(Exception):
    """Why a presented token is not accepted (``code``: token_invalid, token_expired, token_revoked,
    principal_disabled, app_disabled)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def authenticate(fabric: Fabric, token: str) -> str:
    """The principal a presented token acts as; raises :class:`TokenRefused`."""
    return checked(fabric, token)[0]


def checked(fabric: Fabric, token: str) -> tuple[str, datetime | None]:
    """:func:`authenticate`, and the token's expiry (for a cache: the answer holds until then)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        raise TokenRefused("token_invalid", "the access token is not a govfabric token")
    with fabric.store.session() as s:
        row = s.scalar(select(AccessToken).where(AccessToken.digest == digest(fabric, token)))
        if row is None:
            raise TokenRefused("token_invalid", "the access token is not known; create one with "
                               "`govfabric token create`")
        if row.revoked_at is not None:
            raise TokenRefused("token_revoked", "the access token was revoked; create a new one")
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise TokenRefused("token_expired", "the access token has expired; create a new one")
        p = principals.get(s, row.principal)
        if not p.active:
            raise TokenRefused("principal_disabled", f"principal {p.name!r} is deactivated")
        # an app's principal holding a token: `app disable` stops that too, not only its signed requests
        if s.scalar(select(AppCredential.active).where(AppCredential.principal == row.principal)) is False:
            raise TokenRefused("app_disabled", f"app {p.name} is disabled; ask an admin")
        return row.principal, row.expires_at
