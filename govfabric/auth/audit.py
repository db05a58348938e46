"""The keyed hash-chained audit log.

Every write in govfabric appends an event *in the same transaction* as the write, so
an event exists exactly when the change does. Each event's hash is an HMAC-SHA256, keyed
with the audit key (derived from the workspace key, which lives in the workspace home,
not in the store), over its own fields and the previous event's hash: someone who can
write to the store but not read the key can neither forge an event nor re-hash the events
after an edit. The head row records the last sequence and hash; a checkpoint file in the
workspace home (``audit.head``, signed with the same key, moved forward at each commit that
appended) records where the chain had got to, so deleting the tail, the head row or every
event is detected by :meth:`AuditLog.verify`. Segments of the chain can be anchored on a
blockchain.

Workspaces older than the keyed chain keep their plain SHA-256 events: the head row's note
records the first keyed sequence (``{"keyed_from": N}``, also in the signed checkpoint),
events before it are checked with the plain hash, and the first keyed event's HMAC covers
the last plain hash, so those are covered too. Likewise the note's ``jcs_from`` is the first
event hashed over RFC 8785 JSON (:mod:`govfabric.canonical`); earlier events keep the form they
were written with. It needs no place in the checkpoint: every event from it on is keyed, so moving
the marker only makes events fail to verify, it cannot let an edit pass.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from govfabric.auth.models import AuditEvent, AuditHead
from govfabric.auth.request_context import request_id
from govfabric.auth.secrets import SecretBox
from govfabric.canonical import MAX_SAFE_INT, canonical, jsonable_plain, legacy
from govfabric.errors import ConfigError, IntegrityError
from govfabric.store.base import utcnow
from govfabric.store.db import NeedsTransaction, Store
from govfabric.store.prepared import Prepared

GENESIS = "0" * 64
KEY_PURPOSE = "audit-chain"
CHECKPOINT_FILE = "audit.head"
#: verify lists at most this many problems (a changed key breaks every event)
MAX_PROBLEMS = 50
#: the checkpoint file: two fixed-size slots, written alternately in place
SLOTS, SLOT_SIZE = 2, 256
_INFO = "govfabric.audit"
_PENDING = "govfabric.audit.pending"
#: a transaction's ``info`` key: its writer runs it again if it fails (:func:`may_skip_head_read`)
_UNREAD = "govfabric.audit.unread_head"
log = logging.getLogger(__name__)


def _body(seq: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any],
          prev_hash: str, jcs: bool, plain: bool = False) -> bytes:
    body = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
            "target": target, "details": details, "prev": prev_hash}
    if not jcs:
        return legacy(body)
    plain = (plain and type(actor) is str and type(action) is str and type(target) is str
             and type(prev_hash) is str and type(seq) is int and 0 <= seq <= MAX_SAFE_INT)
    return canonical(body, plain=plain)


def event_hash(seq: int, at: datetime, actor: str, action: str, target: str,
               details: dict[str, Any], prev_hash: str, key: bytes | None = None, jcs: bool | None = None,
               *, plain: bool = False) -> str:
    """The event's hash: HMAC-SHA256 with the audit key; plain SHA-256 (events written before
    the chain was keyed) when ``key`` is None. Over RFC 8785 JSON when ``jcs`` (by default for keyed
    events), else over the form written before it (``jcs_from`` in the head's note says which).
    ``plain``: ``details`` is known to be plain JSON (``canonical.jsonable_plain``)."""
    body = _body(seq, at, actor, action, target, details, prev_hash, key is not None if jcs is None else jcs,
                 plain)
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def damaged(reason: str) -> IntegrityError:
    return IntegrityError(f"the audit log is damaged ({reason}); writes are refused so the damage is not "
                          "hidden: run `govfabric audit verify` for the details and restore the store from a backup")


@dataclass(frozen=True)
class Checkpoint:
    """The signed head kept outside the store: the chain reached ``seq`` with ``hash``."""

    seq: int
    hash: str
    keyed_from: int

    def mac(self, key: bytes) -> str:
        msg = f"govfabric audit checkpoint\n{self.seq}\n{self.hash}\n{self.keyed_from}".encode()
        return hmac.new(key, msg, hashlib.sha256).hexdigest()


class CheckpointError(Exception):
    """The checkpoint file exists but is unreadable or its signature does not match."""


@dataclass
class AuditBinding:
    """What appends and verification need from outside the store: the key and the checkpoint."""

    key_source: Callable[[], bytes]
    checkpoint_path: Path
    _key: bytes | None = None
    _cached: tuple[tuple[int, int, int], Checkpoint] | None = field(default=None, repr=False)
    #: the file's bytes as last read or written and their slots: every append checks and moves the
    #: checkpoint, and parsing both slots again (JSON, HMAC) was a tenth of recording a query
    _parsed: tuple[bytes, list[Checkpoint | None | CheckpointError]] | None = field(default=None, repr=False)
    #: the head row (seq, hash, note) as this process last committed it, and whether the last locked
    #: read found it unmoved since (no other writer in between): then an append may move it unread
    head: tuple[int, str, str | None] | None = field(default=None, repr=False)
    head_unmoved: bool = field(default=False, repr=False)

    def committed(self, head: tuple[int, str, str | None]) -> None:
        """Remember the head a transaction of this process committed (never an older one)."""
        known = self.head
        if known is None or head[0] > known[0]:
            self.head = head

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self.key_source()
        return self._key

    def _slots(self, data: bytes) -> list[Checkpoint | None | CheckpointError]:
        """Each slot: its checkpoint, None if never written, or the reason it is not valid."""
        parsed = self._parsed
        if parsed is not None and parsed[0] == data:
            return parsed[1]
        out: list[Checkpoint | None | CheckpointError] = []
        for n in range(SLOTS):
            chunk = data[n * SLOT_SIZE:(n + 1) * SLOT_SIZE].strip(b" \n\x00")
            if not chunk:
                out.append(None)
                continue
            try:
                raw = json.loads(chunk)
                cp = Checkpoint(int(raw["seq"]), str(raw["hash"]), int(raw["keyed_from"]))
                ok = hmac.compare_digest(str(raw["mac"]), cp.mac(self.key))
            except (ValueError, KeyError, TypeError) as exc:
                out.append(CheckpointError(f"checkpoint {self.checkpoint_path} is unreadable ({exc})"))
                continue
            out.append(cp if ok else CheckpointError(
                f"checkpoint {self.checkpoint_path} does not match its signature (edited, or the workspace key "
                "changed)"))
        self._parsed = (data, out)
        return out

    def _newest(self, data: bytes) -> Checkpoint | None:
        slots = self._slots(data)
        valid = [c for c in slots if isinstance(c, Checkpoint)]
        if valid:  # one bad slot next to a good one is a write cut short; the good one lags by one append
            return max(valid, key=lambda c: c.seq)
        bad = [c for c in slots if isinstance(c, CheckpointError)]
        if bad or len(data) > SLOTS * SLOT_SIZE:
            raise bad[0] if bad else CheckpointError(f"checkpoint {self.checkpoint_path} is unreadable")
        return None

    def read_checkpoint(self) -> Checkpoint | None:
        """The checkpoint, None if there is none yet; :class:`CheckpointError` if it was tampered with.
        Parsed and checked again only when the file changed (appends read it every time)."""
        try:
            st = os.stat(self.checkpoint_path)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        try:
            data = self.checkpoint_path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.checkpoint_path} is unreadable ({exc.strerror})") from exc
        cp = self._newest(data)
        self._cached = (stamp, cp)
        return cp

    def advance(self, cp: Checkpoint) -> None:
        """Move the checkpoint forward to ``cp`` (never back), under a lock on the file.

        Two fixed-size slots written in place, the older one each time: a reader never sees a
        half-written checkpoint as the newest, and no rename (on ext4, renaming over a file flushes
        it: ~4 ms per query, against ~40 µs for this)."""
        fd = os.open(self.checkpoint_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = os.pread(fd, SLOTS * SLOT_SIZE + 1, 0)
            slots = self._slots(data)
            if any(isinstance(c, CheckpointError) for c in slots) and not any(isinstance(c, Checkpoint) for c in slots):
                return  # keep the evidence; verify reports it
            valid = [(c.seq, n) for n, c in enumerate(slots) if isinstance(c, Checkpoint)]
            newest = max(valid, default=None)
            if newest is not None and newest[0] >= cp.seq:
                return
            target = 0 if newest is None else (newest[1] + 1) % SLOTS
            line = json.dumps({"seq": cp.seq, "hash": cp.hash, "keyed_from": cp.keyed_from,
                               "mac": cp.mac(self.key)}).encode()
            chunk = line.ljust(SLOT_SIZE - 1) + b"\n"
            os.pwrite(fd, chunk, target * SLOT_SIZE)
            # what the file now holds (the lock is still ours: the other slot is as read, this one
            # is ``cp``): the next append's reads and checks need not parse or sign it again
            now = [*slots]
            now[target] = cp
            self._parsed = (os.pread(fd, SLOTS * SLOT_SIZE + 1, 0), now)
            st = os.fstat(fd)
            self._cached = ((st.st_ino, st.st_mtime_ns, st.st_size), cp)
        finally:
            os.close(fd)


def bind(store: Store, key_source: Callable[[], bytes], checkpoint_path: Path) -> None:
    """Give a store its audit key (derived lazily) and checkpoint file; the Fabric does this when it
    opens the store. Appends on a store without them are refused. Idempotent per store."""
    if _INFO in store.info:
        return
    store.info[_INFO] = AuditBinding(key_source, checkpoint_path)
    event.listen(store.session_factory, "after_commit", _after_commit)
    store.commit_hooks.append(_after_commit)  # its write-only transactions (``Store.write_only``)
    event.listen(store.session_factory, "after_rollback", _after_rollback)


def bind_workspace(store: Store, secrets: SecretBox, home: Path) -> None:
    """:func:`bind` with the workspace's key (HKDF purpose ``audit-chain``) and ``<home>/audit.head``."""
    bind(store, lambda: secrets.derive(KEY_PURPOSE), home / CHECKPOINT_FILE)


def binding_of(store: Store) -> AuditBinding:
    return _bound(store.info)


def _bound(info: dict[str, Any]) -> AuditBinding:
    found = info.get(_INFO)
    if found is None:
        raise ConfigError("this store has no audit key: open the workspace with govfabric.connect() "
                          "(or `govfabric --home …`), which binds it")
    return found


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    binding, cp, note = pending
    binding.committed((cp.seq, cp.hash, note))
    try:
        binding.advance(cp)
    except OSError as exc:  # the commit stands; verify will report the lagging checkpoint
        log.warning("cannot write the audit checkpoint %s: %s", binding.checkpoint_path, exc)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _keyed_from(note: str | None, marker: str = "keyed_from") -> int | None:
    if not note:
        return None
    try:
        return int(_note(note)[marker])
    except (ValueError, KeyError, TypeError):
        return None


@functools.lru_cache(maxsize=8)
def _note(note: str) -> Any:
    """The head's note parsed (every append reads its markers; it changes once in a chain's life)."""
    return json.loads(note)


def _jcs_from(note: str | None) -> int | None:
    """The first event hashed over RFC 8785 JSON; None: every event uses the old form."""
    return _keyed_from(note, "jcs_from")


def _upgraded_note(note: str | None, next_seq: int) -> str:
    """The head's note for an old chain's next append: keyed and JCS from ``next_seq`` unless already."""
    keyed, jcs = _keyed_from(note), _jcs_from(note)
    return json.dumps({"keyed_from": next_seq if keyed is None else keyed,
                       "jcs_from": next_seq if jcs is None else jcs})


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    head_seq: int
    problems: list[str]
    #: first event hashed with the audit key (None: an old chain not appended to since)
    keyed_from: int | None = None
    #: where the signed checkpoint outside the store says the chain had got to
    checkpoint_seq: int | None = None


_HEAD = AuditHead.__table__
_EVENTS = AuditEvent.__table__
#: the head locked (PostgreSQL: FOR UPDATE; on SQLite the transaction's BEGIN IMMEDIATE holds the lock);
#: on the driver's cursor, whose fetch, in a pipeline, sends what is queued and waits for this answer
_READ_HEAD = Prepared(select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.note).where(_HEAD.c.id == 1).with_for_update())
_WRITE_HEAD = Prepared(_HEAD.update().where(_HEAD.c.id == 1))
_INSERT_EVENTS = Prepared(_EVENTS.insert())
#: the head moved from the (seq, hash, note) this process last committed, unread: the UPDATE takes the
#: row lock as ``FOR UPDATE`` would, and if another writer moved the head meanwhile it matches no row,
#: and ``1 / count(*)`` fails the statement, hence the transaction, before anything commits
_moved = (update(AuditHead)
          .where(_HEAD.c.id == 1, _HEAD.c.seq == bindparam("old_seq"), _HEAD.c.hash == bindparam("old_hash"),
                 _HEAD.c.note.is_not_distinct_from(bindparam("old_note")))
          .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")).returning(_HEAD.c.id).cte("moved"))
#: an INSERT's row written with the events (:func:`append_many`'s ``rows``): the statement and its values
Row = tuple[Prepared, dict[str, Any]]
#: the head moved unread, the events and the caller's rows inserted, in ONE statement, by shape: the
#: INSERTs are data-modifying CTEs the main query does not read, which PostgreSQL runs to completion
#: after it (so after the head's UPDATE took its lock, and not at all when ``1 / count(*)`` failed)
_TOGETHER: dict[tuple[Any, ...], Prepared] = {}
#: the most values one such statement binds (PostgreSQL takes 65535 parameters)
_MAX_VALUES = 30_000


def _together(session: Session, head: dict[str, Any], events: Sequence[dict[str, Any]], rows: Sequence[Row]) -> None:
    """The head moved from what this process last committed (``head``: old and new seq, hash, note),
    unread, with the events and ``rows`` inserted in the same statement: one statement of Python
    and driver work instead of three (the whole recording is this and COMMIT)."""
    groups: list[tuple[Table, list[dict[str, Any]]]] = [(cast(Table, _EVENTS), list(events))]
    for prepared, row in rows:  # consecutive rows of one table and key set: one multi-row VALUES
        table = cast(Table, prepared.table)  # an INSERT's (append_many checked)
        (full,) = prepared.complete([row])
        if groups[-1][0] is table and list(groups[-1][1][0]) == list(full):
            groups[-1][1].append(full)
        else:
            groups.append((table, [full]))
    single = getattr(session, "single", False)
    if sum(len(r) * len(r[0]) for _t, r in groups if r) > _MAX_VALUES:  # beyond a statement's parameters:
        if single:
            raise NeedsTransaction("too many rows for one statement")
        _together(session, head, (), ())  # the head moved (and locked) first, then the rows as usual
        _INSERT_EVENTS.run(session, list(events))
        for prepared, row in rows:
            prepared.run(session, row)
        return
    groups = [(t, r) for t, r in groups if r]
    shape = tuple((t.name, tuple(r[0]), len(r)) for t, r in groups)
    stmt = _TOGETHER.get(shape)
    if stmt is None:
        ctes = [insert(t).values([{c: bindparam(f"t{k}r{i}_{c}", type_=t.c[c].type) for c in r[0]}
                                  for i in range(len(r))]).cte(f"ins{k}")
                for k, (t, r) in enumerate(groups)]
        if len(_TOGETHER) >= 64:
            _TOGETHER.clear()
        stmt = _TOGETHER[shape] = Prepared(select(literal_column("1") / func.count()).select_from(_moved)
                                           .add_cte(*ctes))
    params = dict(head)
    for k, (_t, r) in enumerate(groups):
        for i, row in enumerate(r):
            params.update({f"t{k}r{i}_{c}": v for c, v in row.items()})
    stmt.run(session, params, sole=single)


def _checkpoint(binding: AuditBinding) -> Checkpoint | None:
    try:
        return binding.read_checkpoint()
    except CheckpointError as exc:
        raise damaged(str(exc)) from None


def _start_chain(session: Session, cp: Checkpoint | None) -> str:
    """No head row: a fresh store, unless events or a checkpoint say otherwise (never hide a deletion).
    Returns the new head's note."""
    conn = session.connection()
    last = conn.execute(select(func.max(_EVENTS.c.seq))).scalar()
    if last is not None:
        raise damaged(f"the chain's head row is missing but events up to {last} exist")
    if cp is not None and cp.seq > 0:
        raise damaged(f"the log is empty but the checkpoint outside the store says {cp.seq} events were written")
    note = json.dumps({"keyed_from": 1, "jcs_from": 1})
    conn.execute(_HEAD.insert(), {"id": 1, "seq": 0, "hash": GENESIS, "note": note})
    return note


def _check_head(cp: Checkpoint | None, seq: int, digest: str, keyed_from: int | None) -> None:
    """The head row against the checkpoint: cheap (no event is read), catches a head moved back."""
    if cp is None:
        return
    if cp.seq > seq:
        raise damaged(f"the head says event {seq} is the last, the checkpoint outside the store says {cp.seq}")
    if cp.seq == seq and cp.hash != digest:
        raise damaged(f"event {seq} differs from the checkpoint outside the store")
    if keyed_from != cp.keyed_from:
        raise damaged("the head row's keyed-chain marker was changed")


#: one event to append: (actor, action, target, details)
Entry = tuple[str, str, str, dict[str, Any] | None]


class OwedEvent:
    """An event the current request still owes the chain — the server's ``api.call`` — built when
    it is written (``build(status)``). A route whose answer is one query's :func:`arm`s it; the
    transaction recording that query then appends it with the query's own events
    (:func:`take_owed`), so the request locks the chain's head once instead of twice. ``written``
    is set only once that transaction committed; the server writes an event still owed (or one
    whose assumed status turned out wrong) itself, so every request is audited exactly as before."""

    __slots__ = ("armed", "build", "status", "taken", "written")

    def __init__(self, build: Callable[[int], Entry]) -> None:
        self.build = build
        self.armed = self.taken = self.written = False
        self.status: int | None = None


#: the event the request running in this context owes (the server sets it; threads see it too)
owed_event: ContextVar[OwedEvent | None] = ContextVar("govfabric_owed_event", default=None)


def arm() -> None:
    """Called by a route whose answer is a single query's: that query's recording writes the request's
    event (built then: what the route adds to it, ``request.state.audit``, must be set before)."""
    owed = owed_event.get()
    if owed is not None:
        owed.armed = True


def take_owed(status: int) -> OwedEvent | None:
    """The armed, untaken owed event (built as if the request answers ``status``), else None.
    The caller appends ``owed.build(status)`` and sets ``owed.written`` after its commit."""
    owed = owed_event.get()
    if owed is None or not owed.armed or owed.taken:
        return None
    owed.taken, owed.status = True, status
    return owed


@contextmanager
def pipelined(session: Session) -> Iterator[Callable[[], None]]:
    """The block's statements sent without waiting for each answer, on PostgreSQL (psycopg's
    pipeline mode): a transaction recording a query (query log, lineage, usage, audit) costs 2
    round trips instead of ~8, which under load is as many waits for the store and for a core.
    The block may end by calling what this yields: COMMIT sent with the queued writes, so the audit
    head's lock (taken by :func:`append_many`, which reads the head on the driver's cursor: that
    syncs) is held for one round trip (events, head, COMMIT) instead of three — every append in the
    workspace queues on that lock. The session's own commit afterwards finds nothing to do and
    releases the connection once the pipeline has ended (``Store.session(pipelined=True)``: a
    connection back in the pool with its pipeline still open would be another thread's).
    Statements inside must not read results through SQLAlchemy (it sees none until the pipeline
    syncs). Elsewhere (SQLite, a pipeline already open) the block runs as it is and the call is a
    no-op. Durability is unchanged: the transaction commits before the caller goes on."""
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    if not _pipelines(conn, raw):
        yield lambda: None
        return

    def commit() -> None:
        session.flush()
        if not (session.new or session.dirty or session.deleted):  # else the session's commit flushes
            raw.commit()

    with raw.pipeline():
        yield commit


@contextmanager
def pipeline_of(conn: Any) -> Iterator[Callable[[], None]]:
    """:func:`pipelined` for a Core connection (``Store.write_only``): the block may end by calling
    what this yields, COMMIT sent with the queued writes; the connection's own commit afterwards
    finds nothing to do."""
    raw: Any = conn.connection.driver_connection
    if not _pipelines(conn, raw):
        yield lambda: None
        return
    with raw.pipeline():
        yield raw.commit


def _pipelines(conn: Any, raw: Any) -> bool:
    return bool(raw is not None and conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
                and not _in_pipeline(raw))


def _in_pipeline(raw: Any) -> bool:
    pgconn = getattr(raw, "pgconn", None)
    return bool(pgconn is not None and pgconn.pipeline_status)


def append(session: Session, actor: str, action: str, target: str,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event inside the caller's transaction (:func:`append_many` of one); the event
    as written (not attached to the session)."""
    return AuditEvent(**_append(session, [(actor, action, target, details)])[-1])


def append_many(session: Session, entries: Sequence[Entry], rows: Sequence[Row] = ()) -> None:
    """Append events, chained in order, inside the caller's transaction.

    Three statements (``store/prepared.py``) on the session's connection whatever their number (read and lock the
    head, insert the events in one statement, move the head): a query service call appends its
    query's event and its own together. ``rows``: the caller's INSERTs of this transaction (the
    query log's), written before the events — or, when the head moves unread, in the same single
    statement. The caller's pending ORM changes are flushed first.
    The checkpoint outside the store moves when the transaction commits."""
    if any(prepared.table is None for prepared, _row in rows):
        raise TypeError("append_many writes INSERT rows only")
    if entries:
        _append(session, entries, rows)
    else:
        for prepared, row in rows:
            prepared.run(session, row)


def may_skip_head_read(info: dict[str, Any]) -> None:
    """Let the appends of the transaction owning ``info`` move the head without reading it first, when
    this process committed the head last and no other writer moved it since its last locked read
    (PostgreSQL in a pipeline: the recording is then one round trip instead of two). Only for a writer
    that runs the whole transaction again when it fails: :func:`head_was_unread` says whether to,
    reading the head that time."""
    info[_UNREAD] = True


def head_was_unread(info: dict[str, Any]) -> bool:
    """Whether the failed transaction owning ``info`` moved the head unread (another writer may have
    moved it: the transaction is to run again, reading it); the next appends read it until a locked
    read finds it unmoved again."""
    if info.get(_UNREAD) != "used":
        return False
    _bound(info).head_unmoved = False
    return True


def _append(session: Session, entries: Sequence[Entry], extra: Sequence[Row] = ()) -> list[dict[str, Any]]:
    """:func:`append_many` (``extra``: its ``rows``); the events written."""
    binding = _bound(session.info)
    session.flush()
    cp = _checkpoint(binding)
    known = binding.head if binding.head_unmoved and session.info.get(_UNREAD) is True else None
    if known is not None and cp is not None and (cp.seq, cp.hash) != known[:2]:
        known, binding.head_unmoved = None, False  # another process moved the checkpoint: read the head
    single = getattr(session, "single", False)  # a one-statement transaction (``Store.write_only``)
    if known is not None and (_jcs_from(known[2]) is None or not (single or _in_pipeline(
            session.connection().connection.driver_connection))):
        known = None  # an old chain's note to upgrade, or nothing saved by sending it all at once
    if single and known is None:
        raise NeedsTransaction("the audit chain's head is to be read and locked first")
    if known is not None:
        session.info[_UNREAD] = "used"
        head: tuple[Any, ...] | None = known
    else:
        for prepared, row in extra:
            prepared.run(session, row)
        head = _READ_HEAD.first(session)
        binding.head_unmoved = head is not None and tuple(head) == binding.head
    note: str | None = None
    keyed_from: int | None
    if head is None:
        head_note = _start_chain(session, cp)
        prev_seq, prev_hash, keyed_from = 0, GENESIS, 1
    else:
        prev_seq, prev_hash, head_note = head
        keyed_from = _keyed_from(head_note)
        _check_head(cp, prev_seq, prev_hash, keyed_from)
        if keyed_from is None or _jcs_from(head_note) is None:  # an old chain: key it / hash it as JCS
            note = _upgraded_note(head_note, prev_seq + 1)      # from here on, and say so in the head
            keyed_from = prev_seq + 1 if keyed_from is None else keyed_from  # what the new note says
    at = utcnow()
    rid = request_id.get()
    rows: list[dict[str, Any]] = []
    seq, digest = prev_seq, prev_hash
    for actor, action, target, details in entries:
        # stored and hashed as plain JSON: datetimes, Decimals… as strings
        clean, plain = jsonable_plain(details or {})
        if rid is not None:  # written during an HTTP request: the event names it
            plain = plain and type(clean.setdefault("request_id", rid)) is str
        seq, prev = seq + 1, digest
        digest = event_hash(seq, at, actor, action, target, clean, prev, binding.key, plain=plain)
        rows.append({"seq": seq, "at": at, "actor": actor, "action": action, "target": target, "details": clean,
                     "prev_hash": prev, "hash": digest})
    if known is not None:  # moved first: it holds the head's lock as the locked read would
        _together(session, {"old_seq": prev_seq, "old_hash": prev_hash, "old_note": head_note,
                            "new_seq": seq, "new_hash": digest}, rows, extra)
    else:
        _INSERT_EVENTS.run(session, rows)
        _WRITE_HEAD.run(session, {"seq": seq, "hash": digest} if note is None
                        else {"seq": seq, "hash": digest, "note": note})
    session.info[_PENDING] = (binding, Checkpoint(seq, digest, keyed_from), head_note if note is None else note)
    return rows


class AuditLog:
    """Reads and verifies the workspace's audit log; writers call :func:`append`."""

    def __init__(self, store: Store, actor: str) -> None:
        self.store = store
        self.actor = actor

    def append(self, action: str, target: str, details: dict[str, Any] | None = None) -> AuditEvent:
        with self.store.session() as s:
            return append(s, self.actor, action, target, details)

    def _sees_all(self, s: Session) -> bool:
        """Auditors and admins read every event; everyone else only their own (other users'
        events name what they looked at)."""
        from govfabric.auth import principals
        from govfabric.errors import NotFound

        try:
            return principals.actor_of(principals.get(s, self.actor)).has("auditor")
        except NotFound:
            return False

    def events(self, *, action: str | None = None, target: str | None = None, actor: str | None = None,
               since_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
        """Events in sequence order; only the acting principal's own unless it is an auditor or admin."""
        q = select(AuditEvent).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
        if action:
            q = q.where(AuditEvent.action == action)
        if target:
            q = q.where(AuditEvent.target == target)
        with self.store.session() as s:
            if not self._sees_all(s):
                if actor and actor != self.actor:
                    return []
                actor = self.actor
            if actor:
                q = q.where(AuditEvent.actor == actor)
            if limit:
                q = q.limit(limit)
            return list(s.scalars(q))

    def segment(self, start_seq: int, end_seq: int) -> list[AuditEvent]:
        with self.store.session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.seq.between(start_seq, end_seq))
                                  .order_by(AuditEvent.seq)))

    def head(self) -> tuple[int, str]:
        with self.store.session() as s:
            head = s.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
            return (head[0], head[1]) if head else (0, GENESIS)

    def recompute(self, ev: AuditEvent) -> str:
        """An event's hash recomputed from its fields, keyed as the chain says (anchors check this)."""
        with self.store.session() as s:
            note = s.execute(select(_HEAD.c.note).where(_HEAD.c.id == 1)).scalar()
        binding = binding_of(self.store)
        try:
            cp = binding.read_checkpoint()
        except CheckpointError:
            cp = None
        keyed_from = cp.keyed_from if cp is not None else _keyed_from(note)
        key = binding.key if keyed_from is not None and ev.seq >= keyed_from else None
        jcs_from = _jcs_from(note)
        return event_hash(ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.details, ev.prev_hash, key,
                          jcs_from is not None and ev.seq >= jcs_from)

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
        """Recompute the whole chain and compare its end with the head row and the signed checkpoint
        outside the store; report every break, with its sequence number."""
        binding = binding_of(self.store)
        problems: list[str] = []
        try:
            cp = binding.read_checkpoint()
        except CheckpointError as exc:
            problems.append(str(exc))
            cp = None
        with self.store.session() as s:
            head = s.execute(select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.note).where(_HEAD.c.id == 1)).first()
            note_from = _keyed_from(head.note) if head is not None else None
            keyed_from = cp.keyed_from if cp is not None else note_from
            if cp is not None and head is not None and note_from != cp.keyed_from:
                problems.append(f"the head row's keyed-chain marker says {note_from}, the checkpoint "
                                f"{cp.keyed_from} (the head row was edited)")
            jcs_from = _jcs_from(head.note) if head is not None else None
            count, last, at_checkpoint = self._walk(s, binding, keyed_from, jcs_from, cp, problems)
            if head is None and count:
                problems.append("the chain's head row is missing (deleted)")
            elif head is not None and (head.seq != last[0] or head.hash != last[1]):
                problems.append(
                    f"chain head says event {head.seq} is last, but the log ends at {last[0]} "
                    "(events deleted at the tail, or the head was edited)"
                )
        self._check_checkpoint(cp, note_from, last[0], at_checkpoint, problems)
        if len(problems) > MAX_PROBLEMS:
            problems[MAX_PROBLEMS:] = [f"… and {len(problems) - MAX_PROBLEMS} more problems"]
        return VerifyReport(ok=not problems, events=count, head_seq=head.seq if head is not None else 0,
                            problems=problems, keyed_from=keyed_from, checkpoint_seq=cp.seq if cp else None)

    def _walk(self, s: Session, binding: AuditBinding, keyed_from: int | None, jcs_from: int | None,
              cp: Checkpoint | None, problems: list[str]) -> tuple[int, tuple[int, str], str | None]:
        """Check every event's link and hash; returns the count, the last (seq, hash) and the hash of
        the event at the checkpoint's sequence."""
        expected_seq, prev, count, at_checkpoint = 1, GENESIS, 0, None
        key = binding.key if keyed_from is not None else None
        for ev in self._iter(s):
            count += 1
            if ev.seq != expected_seq:
                problems.append(f"event {expected_seq}…{ev.seq - 1} missing (deleted?)")
                prev = ev.prev_hash  # resynchronise to report later breaks separately
            if ev.prev_hash != prev:
                problems.append(f"event {ev.seq}: previous-hash link broken (an earlier event changed)")
            keyed = keyed_from is not None and ev.seq >= keyed_from
            recomputed = event_hash(ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.details, ev.prev_hash,
                                    key if keyed else None, jcs_from is not None and ev.seq >= jcs_from)
            if recomputed != ev.hash:
                problems.append(f"event {ev.seq}: content does not match its hash (edited"
                                + (", or re-hashed without the audit key)" if keyed else ")"))
            if cp is not None and ev.seq == cp.seq:
                at_checkpoint = ev.hash
            prev, expected_seq = ev.hash, ev.seq + 1
        return count, (expected_seq - 1, prev), at_checkpoint

    @staticmethod
    def _check_checkpoint(cp: Checkpoint | None, note_from: int | None, last: int, at_checkpoint: str | None,
                          problems: list[str]) -> None:
        if cp is None:
            if note_from is not None:
                problems.append("the signed checkpoint outside the store is missing, though the chain is keyed")
            return
        if cp.seq > last:
            problems.append(f"the signed checkpoint outside the store says the log reached event {cp.seq}, "
                            f"but it ends at {last} (events deleted at the tail, or every event deleted)")
        elif cp.seq > 0 and at_checkpoint != cp.hash:
            problems.append(f"event {cp.seq} differs from the signed checkpoint outside the store "
                            "(the chain was rewritten from there on)")
