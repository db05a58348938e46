"""Forwarding events to an OpenLineage HTTP consumer (Marquez: ``POST /api/v1/lineage``).

Sending goes through openlineage-python's ``HttpTransport``. Events forwarded after a commit
(:func:`submit`) go through a bounded queue and one background thread, so a slow or dead
consumer never holds up a query: when the queue is full the event is dropped (counted and
logged; it stays stored, unforwarded, for ``lineage forward``). :func:`flush` drains the queue
for a bounded time (``Fabric.close`` calls it).

Forwarded events carry SQL with literals replaced by ``?`` and no error messages (see
:mod:`govfabric.governance.lineage.redact`): the consumer's readers are not govfabric principals.
The full text stays in the workspace, for auditors."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from govfabric.errors import SourceError
from govfabric.governance.lineage.models import LineageEvent
from govfabric.governance.lineage.redact import redact
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from openlineage.client.transport.http import HttpTransport

    from govfabric.fabric import Fabric
    from govfabric.store.db import Store

log = logging.getLogger(__name__)
ENDPOINT = "/api/v1/lineage"
QUEUE_SIZE = 1000
#: retries stay short: a dead consumer must not keep the worker (or `lineage forward`) for minutes
RETRY = {"total": 1, "connect": 1, "read": 0, "backoff_factor": 0.1,
         "status_forcelist": [502, 503, 504], "allowed_methods": ["POST"]}


def endpoint(url: str) -> str:
    """``http://host:5000`` → ``http://host:5000/api/v1/lineage`` (a full endpoint is kept)."""
    url = url.rstrip("/")
    return url if url.endswith(ENDPOINT) else url + ENDPOINT


def http_transport(url: str, timeout_s: float = 10.0) -> HttpTransport:
    """openlineage-python's HTTP transport posting to :func:`endpoint` of ``url``."""
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    parts = urlsplit(endpoint(url))
    if not parts.scheme or not parts.netloc:
        raise SourceError(f"the lineage endpoint {url!r} is not an http(s) URL; set lineage_url to e.g. "
                          "http://marquez:5000")
    return HttpTransport(HttpConfig(url=f"{parts.scheme}://{parts.netloc}/", endpoint=parts.path,
                                    timeout=timeout_s, retry=dict(RETRY)))


def _send(transport: HttpTransport, payload: dict[str, Any]) -> None:
    import requests

    target = transport.url.rstrip("/") + transport.endpoint
    try:
        transport.emit(payload)  # type: ignore[arg-type]  # Serde serialises dicts as they are
    except requests.HTTPError as exc:
        r = exc.response
        raise SourceError(f"the lineage endpoint {target} refused an event: HTTP {r.status_code} "
                          f"{r.text[:200]}") from None
    except requests.RequestException as exc:
        raise SourceError(f"cannot reach the lineage endpoint {target}: {type(exc).__name__}; check "
                          "lineage_url and that the consumer is running") from None


def post_events(url: str, payloads: Iterable[dict[str, Any]], timeout_s: float = 10.0) -> int:
    """POST each event now; raises SourceError naming the first refusal. Returns how many."""
    transport = http_transport(url, timeout_s)
    n = 0
    try:
        for payload in payloads:
            _send(transport, payload)
            n += 1
    finally:
        transport.close()
    return n


def forward_stored(fabric: Fabric, ids: Sequence[str] | None = None, url: str | None = None) -> int:
    """Send stored events not yet forwarded (or ``ids``) now, and mark them (``lineage forward``)."""
    target = url or fabric.settings.lineage_url
    if not target:
        raise SourceError("no lineage endpoint: set lineage_url (GOVFABRIC_LINEAGE_URL) or pass --url")
    transport = http_transport(target)
    try:
        with fabric.store.session() as s:
            q = select(LineageEvent).order_by(LineageEvent.event_time)
            q = q.where(LineageEvent.id.in_(ids)) if ids else q.where(LineageEvent.forwarded_at.is_(None))
            sent = 0
            for row in s.scalars(q):
                try:
                    _send(transport, redact(row.payload))  # the consumer's readers are unknown: no literals
                except SourceError as exc:
                    row.forward_error = str(exc)[:1000]
                    raise
                row.forwarded_at, row.forward_error = utcnow(), None
                sent += 1
            return sent
    finally:
        transport.close()


class Forwarder:
    """A bounded queue and one daemon thread sending committed events in the background."""

    def __init__(self, size: int = QUEUE_SIZE, timeout_s: float = 10.0) -> None:
        self.queue: queue.Queue[tuple[Store, str, str, dict[str, Any]]] = queue.Queue(maxsize=size)
        self.timeout_s = timeout_s
        self.dropped = 0
        self.sent = 0
        self._transports: dict[str, HttpTransport] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, store: Store, url: str, event_id: str, payload: dict[str, Any]) -> bool:
        """Queue one event; never blocks. False (and counted in ``dropped``) when the queue is full."""
        try:
            self.queue.put_nowait((store, url, event_id, payload))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            log.warning("lineage forwarding queue full (%d): event %s dropped (%d so far); it stays stored, "
                        "send it with `govfabric lineage forward`", self.queue.maxsize, event_id, self.dropped)
            return False
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="govfabric-lineage", daemon=True)
                self._thread.start()
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait up to ``timeout_s`` for the queue to drain; True when it did."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.queue.unfinished_tasks:
            log.warning("lineage forwarding: %d event(s) still queued at close; they stay stored, send them "
                        "with `govfabric lineage forward`", self.queue.unfinished_tasks)
            return False
        return True

    def _run(self) -> None:
        while True:
            store, url, event_id, payload = self.queue.get()
            try:
                self._forward(store, url, event_id, payload)
            except Exception:  # the worker must survive anything one event does
                log.exception("lineage event %s not forwarded", event_id)
            finally:
                self.queue.task_done()

    def _forward(self, store: Store, url: str, event_id: str, payload: dict[str, Any]) -> None:
        transport = self._transports.get(url)
        if transport is None:
            transport = self._transports[url] = http_transport(url, self.timeout_s)
        error: str | None = None
        try:
            _send(transport, redact(payload))  # the consumer's readers are unknown: no literals
            self.sent += 1
        except SourceError as exc:
            error = str(exc)[:1000]
            log.warning("lineage event %s not forwarded: %s", event_id, exc)
        with store.session() as s:
            row = s.get(LineageEvent, event_id)
            if row is not None:
                row.forward_error = error
                if error is None:
                    row.forwarded_at = utcnow()


FORWARDER = Forwarder()


def submit(fabric: Fabric, event_id: str, payload: dict[str, Any]) -> bool:
    """Forward a committed event in the background (see :class:`Forwarder`)."""
    url = fabric.settings.lineage_url
    return bool(url) and FORWARDER.submit(fabric.store, url, event_id, payload)  # type: ignore[arg-type]


def flush(timeout_s: float = 5.0) -> bool:
    """Drain the background queue for at most ``timeout_s`` (at close)."""
    return FORWARDER.flush(timeout_s)
