"""Change detection for a subscription, reading its range through the guarded read path AS THE
SUBSCRIBER (grants, masks and row filters apply; the query is logged as theirs).

By a change column: rows whose column is past the last value seen are inserts or updates; by a
snapshot diff on the key: every row's keyed hash is compared with the one stored. Deletes are keys
no longer in the range (one key-only read). The store keeps no values: per key a keyed hash of the
row (``fabric.secrets.derive("data-service-rows")``), and change records (key, op, cursor);
values are read again when changes are pulled or pushed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlalchemy import delete, select
from sqlglot import exp

from govfabric.auth.audit import append
from govfabric.sharing_modes.data_service.models import Change, RowState, Subscription
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

#: keys per value read (``key IN (…)``) when changes are pulled or pushed
KEY_BATCH = 500


def jsonable(v: Any) -> Any:
    """A value as JSON carries it (dates and timestamps ISO 8601, decimals as text, bytes as hex)."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def key_text(key: Iterable[Any]) -> str:
    return json.dumps([jsonable(v) for v in key], ensure_ascii=False, separators=(",", ":"))


def _literal(v: Any) -> exp.Expression:
    """A value as a typed sqlglot literal, never SQL text."""
    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, int | float | Decimal):
        return exp.Literal.number(v)
    if isinstance(v, datetime):
        return exp.cast(exp.Literal.string(v.isoformat()), "TIMESTAMP")
    if isinstance(v, date):
        return exp.cast(exp.Literal.string(v.isoformat()), "DATE")
    return exp.Literal.string(str(v))


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def range_query(sub: Subscription, columns: list[str], *, where: exp.Expr | None = None) -> str:
    """``SELECT columns FROM table WHERE <the ordered filter> AND <where>`` built as a tree."""
    q = exp.select(*(_col(c) for c in columns)).from_(exp.to_table(sub.table_name))
    conds = [c for c in (sqlglot.parse_one(sub.filter, read="duckdb") if sub.filter else None, where) if c]
    for c in conds:
        q = q.where(exp.paren(c), copy=False)
    return q.sql(dialect="duckdb")


def read(reader: Fabric, sql: str) -> Iterator[dict[str, Any]]:
    for batch in reader.sql_stream(sql):
        yield from batch.to_pylist()


def keys_in(sub: Subscription, keys: list[list[Any]]) -> exp.Expr:
    """``key IN (…)`` (one key column) or ``(k1 = … AND k2 = …) OR …``, as literals."""
    if len(sub.key_columns) == 1:
        return exp.In(this=_col(sub.key_columns[0]), expressions=[_literal(k[0]) for k in keys])
    return exp.or_(*(exp.and_(*(exp.EQ(this=_col(c), expression=_literal(v)) for c, v in zip(sub.key_columns, k,
                                                                                             strict=True)))
                     for k in keys))


def all_columns(sub: Subscription) -> list[str]:
    out = list(sub.key_columns)
    for c in [*sub.columns, *([sub.change_column] if sub.change_column else [])]:
        if c not in out:
            out.append(c)
    return out


@dataclass
class Detected:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.deleted


class Hasher:
    def __init__(self, fabric: Fabric, sub_id: int) -> None:
        self.key = fabric.secrets.derive("data-service-rows")
        self.prefix = f"{sub_id}:".encode()

    def __call__(self, text: str) -> str:
        return hmac.new(self.key, self.prefix + text.encode("utf-8"), hashlib.sha256).hexdigest()


def detect(fabric: Fabric, sub: Subscription) -> Detected:
    """Record the changes of ``sub``'s range since it was last checked (``fabric`` acts as whoever
    runs it; the range is read as the subscriber)."""
    reader = fabric.as_user(sub.subscriber)
    digest = Hasher(fabric, sub.id)
    with fabric.store.session() as s:
        known = {r.key_digest: (r.key, r.row_hash) for r in
                 s.scalars(select(RowState).where(RowState.subscription_id == sub.id))}
    cols = all_columns(sub)
    nk = len(sub.key_columns)
    where, high = None, _load_high(sub.high_water)
    if sub.change_column and high is not None:
        where = exp.GT(this=_col(sub.change_column), expression=_literal(high))
    seen: dict[str, tuple[str, str]] = {}  # digest -> (key text, row hash) of rows read
    for row in read(reader, range_query(sub, cols, where=where)):
        vals = [row[c] for c in cols]
        kt = key_text(vals[:nk])
        seen[digest(kt)] = (kt, digest(json.dumps([jsonable(v) for v in vals], ensure_ascii=False, default=str)))
        if sub.change_column and row[sub.change_column] is not None:
            v = row[sub.change_column]
            high = v if high is None or v > high else high
    if sub.change_column and where is not None:  # only changed rows were read: the keys still present
        present = {digest(key_text([row[c] for c in sub.key_columns]))
                   for row in read(reader, range_query(sub, list(sub.key_columns)))}
    else:
        present = set(seen)
    found = Detected()
    states: dict[str, RowState] | None = None
    with fabric.store.session() as s:
        for d, (kt, h) in seen.items():
            old = known.get(d)
            if old is not None and old[1] == h:
                continue
            op = "insert" if old is None else "update"
            if old is None:
                found.inserted += 1
            else:
                found.updated += 1
            if old is None:  # no per-row merge: its SELECT per row made 100k changes take minutes
                s.add(RowState(subscription_id=sub.id, key_digest=d, key=kt, row_hash=h))
            else:
                if states is None:
                    states = {r.key_digest: r for r in s.scalars(select(RowState).where(
                        RowState.subscription_id == sub.id))}
                states[d].row_hash = h
            s.add(Change(subscription_id=sub.id, key=kt, op=op))
        gone = [d for d in known if d not in present]
        for d in gone:
            s.add(Change(subscription_id=sub.id, key=known[d][0], op="delete"))
            found.deleted += 1
        for i in range(0, len(gone), KEY_BATCH):
            s.execute(delete(RowState).where(RowState.subscription_id == sub.id,
                                             RowState.key_digest.in_(gone[i:i + KEY_BATCH])))
        stored = s.get(Subscription, sub.id)
        assert stored is not None
        stored.high_water = _dump_high(high) if sub.change_column else None
        stored.due = False
        stored.checked_at = utcnow()
        append(s, fabric.user, "subscription.detect", f"subscription:{sub.id}",
               {"inserted": found.inserted, "updated": found.updated, "deleted": found.deleted})
    return found


def _dump_high(v: Any) -> str | None:
    if v is None:
        return None
    kind = "timestamp" if isinstance(v, datetime) else "date" if isinstance(v, date) else \
        "number" if isinstance(v, int | float | Decimal) and not isinstance(v, bool) else "string"
    return json.dumps({"kind": kind, "value": jsonable(v)})


def _load_high(text: str | None) -> Any:
    if not text:
        return None
    d = json.loads(text)
    v = d["value"]
    if d["kind"] == "timestamp":
        return datetime.fromisoformat(v)
    if d["kind"] == "date":
        return date.fromisoformat(v)
    if d["kind"] == "number":
        return Decimal(v) if isinstance(v, str) else v
    return v


def values(fabric: Fabric, sub: Subscription, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Current rows of ``keys`` (key texts) as the subscriber sees them now, by key text."""
    reader = fabric.as_user(sub.subscriber)
    cols = all_columns(sub)
    out: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), KEY_BATCH):
        batch = [json.loads(k) for k in unique[i:i + KEY_BATCH]]
        for row in read(reader, range_query(sub, cols, where=keys_in(sub, batch))):
            kt = key_text([row[c] for c in sub.key_columns])
            out[kt] = {c: jsonable(row[c]) for c in cols}
    return out
