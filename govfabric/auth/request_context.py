"""The HTTP request an audit event belongs to: the server sets the request id for the duration of a
request (a context variable, so threads running sync endpoints see it too) and
:func:`govfabric.auth.audit.append` writes it into every event's details."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("govfabric_request_id", default=None)
