"""The portal's browser rules: CSRF tokens, security headers, cookies and login throttling.

CSRF: every visitor gets a random ``gf_csrf`` cookie (HttpOnly, SameSite=Lax); each form carries
HMAC(workspace-derived key, that cookie), so a page on another site can neither read nor forge it.
A POST without the matching token is refused with 403 before anything runs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, TypeVar

from limits import parse
from starlette.responses import Response

from govfabric.errors import AccessDenied, RateLimited

if TYPE_CHECKING:
    from fastapi import Request

    from govfabric.fabric import Fabric

CSRF_COOKIE = "gf_csrf"
CSRF_FIELD = "csrf_token"
CSRF_PURPOSE = "portal-csrf"
#: scripts and styles only from the portal itself (htmx and Pico are vendored): no inline script
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin", "x-frame-options": "DENY", "cache-control": "no-store"}
#: failed-or-not login attempts allowed per name and per client address
LOGIN_PER_NAME = parse("5/minute")
LOGIN_PER_CLIENT = parse("20/minute")
R = TypeVar("R", bound=Response)


class CsrfRefused(AccessDenied):
    """A form arrived without its CSRF token (403)."""


def csrf_token(fabric: Fabric, cookie: str) -> str:
    return hmac.new(fabric.secrets.derive(CSRF_PURPOSE), cookie.encode(), hashlib.sha256).hexdigest()


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The visitor's CSRF cookie value and whether it is new (to be set on the response)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


def check_csrf(fabric: Fabric, request: Request, form: dict[str, str]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(csrf_token(fabric, cookie), sent):
        raise CsrfRefused("the form has no valid CSRF token; reload the page and submit it again")


def secure(response: R, request: Request) -> R:
    """The security headers on every portal page and redirect."""
    for k, v in HEADERS.items():
        response.headers[k] = v
    return response


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Lax, path /portal; Secure when the page was served over https."""
    response.set_cookie(name, value, max_age=max_age, path="/portal", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def throttle_login(request: Request, name: str) -> None:
    """Count a login attempt; over the limit → 429 with Retry-After (the server's ``limits`` storage)."""
    limits = request.app.state.server.limits
    client = request.client.host if request.client else "unknown"
    for item, keys in ((LOGIN_PER_NAME, ("portal-login", name.lower()[:128])),
                       (LOGIN_PER_CLIENT, ("portal-login-client", client))):
        if not limits.limiter.hit(item, limits.namespace, *keys):
            raise RateLimited(f"too many sign-in attempts ({item}); wait a minute and try again", retry_after_s=60)
