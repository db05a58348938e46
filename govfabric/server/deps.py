"""What routers depend on. A router never authenticates or builds services itself: it asks for
:func:`current_fabric`, the façade acting as the caller the authentication layer established."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


async def current_fabric(request: Request) -> Fabric:
    """The façade acting as the authenticated principal of this request.

    The authentication layer sets ``request.state.principal`` (a principal's name) after checking
    the request's signature or token; the app keeps one façade per principal in
    ``app.state.fabrics`` (a callable ``name -> Fabric``), so grants, masks, row filters and audit
    apply to an app exactly as to a person. A coroutine: FastAPI would run a plain function in a thread."""
    principal: str | None = getattr(request.state, "principal", None)
    if principal is None:  # no credentials were sent: never anonymous data
        from govfabric.errors import AuthenticationRequired

        raise AuthenticationRequired("this endpoint needs a signed request or an access token; see docs/api.md")
    fabric_for = request.app.state.fabrics
    # on the loop, not a hop to a thread per request: a façade already built is a dict lookup
    known = getattr(fabric_for, "known", None)
    found = known(principal) if known is not None else None
    return found if found is not None else await run_in_threadpool(fabric_for, principal)


def signed_fabric(request: Request) -> Fabric:
    """:func:`current_fabric` for a sync endpoint of a route in ``middleware.IN_THREAD_AUTH``, called
    first thing in the endpoint's thread: the request's check (its signature or bearer token, then
    the rate limit), which the middleware left pending, runs here, so that the request hops to a
    thread once, not twice. Every route in ``IN_THREAD_AUTH`` must call it (never ``current_fabric``).
    A refused check raises ``middleware.Refused``, answered (401/429) and audited by the middleware."""
    from govfabric.server.middleware import PENDING_AUTH

    pending = request.scope.get("state", {}).get(PENDING_AUTH)
    if pending is not None:
        pending()
    principal: str | None = getattr(request.state, "principal", None)
    if principal is None:
        from govfabric.errors import AuthenticationRequired

        raise AuthenticationRequired("this endpoint needs a signed request or an access token; see docs/api.md")
    return request.app.state.fabrics(principal)
