"""Forwarding events to an OpenLineage HTTP consumer (Marquez: ``POST /api/v1/lineage``).

Forwarded events carry SQL with literals replaced by ``?`` and no error messages (see
:mod:`govfabric.governance.lineage.redact`): the consumer's readers are not govfabric principals.
The full text stays in the workspace, for auditors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.errors import SourceError
from govfabric.governance.lineage.models import LineageEvent
from govfabric.governance.lineage.redact import redact
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

log = logging.getLogger(__name__)
ENDPOINT = "/api/v1/lineage"


def endpoint(url: str) -> str:
    """``http://host:5000`` → ``http://host:5000/api/v1/lineage`` (a full endpoint is kept)."""
    url = url.rstrip("/")
    return url if url.endswith(ENDPOINT) else url + ENDPOINT


def post_events(url: str, payloads: Iterable[dict[str, Any]], timeout_s: float = 10.0) -> int:
    """POST each event as JSON; raises SourceError naming the first refusal. Returns how many."""
    import httpx

    target = endpoint(url)
    n = 0
    with httpx.Client(timeout=timeout_s) as client:
        for payload in payloads:
            try:
                r = client.post(target, content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                raise SourceError(f"cannot reach the lineage endpoint {target}: {exc}; check lineage_url "
                                  "and that the consumer is running") from exc
            if r.status_code >= 300:
                raise SourceError(f"the lineage endpoint {target} refused an event: HTTP {r.status_code} "
                                  f"{r.text[:200]}")
            n += 1
    return n


def forward_stored(fabric: Fabric, ids: Sequence[str] | None = None, url: str | None = None) -> int:
    """Send stored events not yet forwarded (or ``ids``) and mark them; failures are recorded, not raised,
    when called from a commit hook (``ids`` given)."""
    target = url or fabric.settings.lineage_url
    if not target:
        raise SourceError("no lineage endpoint: set lineage_url (GOVFABRIC_LINEAGE_URL) or pass --url")
    with fabric.store.session() as s:
        q = select(LineageEvent).order_by(LineageEvent.event_time)
        q = q.where(LineageEvent.id.in_(ids)) if ids else q.where(LineageEvent.forwarded_at.is_(None))
        rows = list(s.scalars(q))
        sent = 0
        for row in rows:
            try:
                post_events(target, [redact(row.payload)])  # the consumer's readers are unknown: no literals
            except SourceError as exc:
                row.forward_error = str(exc)[:1000]
                if ids is None:
                    raise
                log.warning("lineage event %s not forwarded: %s", row.id, exc)
                break
            row.forwarded_at, row.forward_error = utcnow(), None
            sent += 1
        return sent
