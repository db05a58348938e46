"""The hash-chained audit log.

Every write in govfabric appends an event *in the same transaction* as the write, so
an event exists exactly when the change does. Each event's hash covers its own
fields and the previous event's hash; the head row records the last sequence and
hash, so editing, deleting, reordering or truncating events is detected by
:meth:`AuditLog.verify`. Segments of the chain can be anchored on a blockchain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govfabric.auth.models import AuditEvent, AuditHead
from govfabric.store.base import utcnow
from govfabric.store.db import Store

GENESIS = "0" * 64


def event_hash(seq: int, at: datetime, actor: str, action: str, target: str,
               details: dict[str, Any], prev_hash: str) -> str:
    body = json.dumps(
        {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
         "target": target, "details": details, "prev": prev_hash},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    head_seq: int
    problems: list[str]


_HEAD = AuditHead.__table__
_EVENTS = AuditEvent.__table__
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_WRITE_HEAD = _HEAD.update().where(_HEAD.c.id == 1)


def append(session: Session, actor: str, action: str, target: str,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event inside the caller's transaction.

    Three Core statements on the session's connection (read and lock the head, insert the
    event, move the head): every query appends one, and the ORM's unit of work cost more than
    the rest of the append. The caller's pending ORM changes are flushed first, as before."""
    session.flush()
    conn = session.connection()
    head = conn.execute(_READ_HEAD).first()
    if head is None:
        conn.execute(_HEAD.insert(), {"id": 1, "seq": 0, "hash": GENESIS})
        prev_seq, prev_hash = 0, GENESIS
    else:
        prev_seq, prev_hash = head
    at = utcnow()
    clean = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    seq = prev_seq + 1
    digest = event_hash(seq, at, actor, action, target, clean, prev_hash)
    values = {"seq": seq, "at": at, "actor": actor, "action": action, "target": target, "details": clean,
              "prev_hash": prev_hash, "hash": digest}
    conn.execute(_EVENTS.insert(), values)
    conn.execute(_WRITE_HEAD, {"seq": seq, "hash": digest})
    return AuditEvent(**values)


class AuditLog:
    """Reads and verifies the workspace's audit log; writers call :func:`append`."""

    def __init__(self, store: Store, actor: str) -> None:
        self.store = store
        self.actor = actor

    def append(self, action: str, target: str, details: dict[str, Any] | None = None) -> AuditEvent:
        with self.store.session() as s:
            return append(s, self.actor, action, target, details)

    def events(self, *, action: str | None = None, target: str | None = None, actor: str | None = None,
               since_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
        q = select(AuditEvent).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
        if action:
            q = q.where(AuditEvent.action == action)
        if target:
            q = q.where(AuditEvent.target == target)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        if limit:
            q = q.limit(limit)
        with self.store.session() as s:
            return list(s.scalars(q))

    def segment(self, start_seq: int, end_seq: int) -> list[AuditEvent]:
        with self.store.session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.seq.between(start_seq, end_seq))
                                  .order_by(AuditEvent.seq)))

    def head(self) -> tuple[int, str]:
        with self.store.session() as s:
            head = s.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
            return (head[0], head[1]) if head else (0, GENESIS)

    def _iter(self, s: Session, batch: int = 5000) -> Iterator[AuditEvent]:
        last = 0
        while True:
            rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > last)
                                  .order_by(AuditEvent.seq).limit(batch)))
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def verify(self) -> VerifyReport:
        """Recompute the whole chain; report every break, with its sequence number."""
        problems: list[str] = []
        expected_seq, prev, count = 1, GENESIS, 0
        with self.store.session() as s:
            for ev in self._iter(s):
                count += 1
                if ev.seq != expected_seq:
                    problems.append(f"event {expected_seq}…{ev.seq - 1} missing (deleted?)")
                    prev = ev.prev_hash  # resynchronise to report later breaks separately
                if ev.prev_hash != prev:
                    problems.append(f"event {ev.seq}: previous-hash link broken (an earlier event changed)")
                recomputed = event_hash(ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.details,
                                        ev.prev_hash)
                if recomputed != ev.hash:
                    problems.append(f"event {ev.seq}: content does not match its hash (edited)")
                prev, expected_seq = ev.hash, ev.seq + 1
            head = s.get(AuditHead, 1, populate_existing=True)  # appends write the head with Core statements
            head_seq = head.seq if head else 0
            if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
                problems.append(
                    f"chain head says event {head.seq} is last, but the log ends at {expected_seq - 1} "
                    "(events deleted at the tail, or the head was edited)"
                )
        return VerifyReport(ok=not problems, events=count, head_seq=head_seq, problems=problems)
