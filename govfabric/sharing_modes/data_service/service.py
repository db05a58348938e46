"""Subscriptions (§8.4.2.7): order → approve (an access request and a SCOPED grant: the ordered
columns, the filter as the grant's row filter) → changes pulled by cursor or pushed to a signed
webhook. Consumers pause, resume and cancel; the owning department's steward suspends."""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from govfabric.auth.audit import append
from govfabric.auth.readpath import may_steward
from govfabric.catalog.read import asset_by_id, asset_ids_of_source
from govfabric.errors import AccessDenied, NotFound, ValidationFailed
from govfabric.sharing_modes.data_service import changes as ch
from govfabric.sharing_modes.data_service import delivery as dl
from govfabric.sharing_modes.data_service.conditions import filter_columns, parse_filter
from govfabric.sharing_modes.data_service.models import Change, Delivery, Subscription
from govfabric.store.base import utcnow
from govfabric.virtualization.read import definition, table_names_over_assets

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

#: changes per push (one delivery, one idempotency key)
PUSH_BATCH = 1000
MAX_PULL = 10_000
Progress = Callable[[str, int, int], None]


@dataclass
class RunReport:
    checked: int = 0
    changes: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def as_dict(sub: Subscription) -> dict[str, Any]:
    """A subscription without its secret (never shown again after ordering)."""
    return {"id": sub.id, "subscriber": sub.subscriber, "table": sub.table_name, "columns": list(sub.columns),
            "filter": sub.filter, "key": list(sub.key_columns), "change_column": sub.change_column,
            "push_url": sub.push_url, "purpose": sub.purpose, "status": sub.status, "request_id": sub.request_id,
            "grant_id": sub.grant_id, "decided_by": sub.decided_by, "reason": sub.reason,
            "delivered_seq": sub.delivered_seq, "created_at": sub.created_at, "checked_at": sub.checked_at}


class Subscriptions:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- order / decide ---------------------------------------------------------------------------

    def order(self, table: str, *, columns: list[str] | None, filter: str | None, purpose: str,
              key: list[str] | None = None, change_column: str | None = None,
              push_url: str | None = None) -> tuple[Subscription, str | None]:
        """Order a range; returns the subscription and, with ``push_url``, the webhook secret (shown once)."""
        actor = self.fabric.actor
        if push_url:
            dl.check_target(push_url, self.fabric.settings)
        with self.store.session() as s:
            found = definition(s, table.lower())
            view = found.name if found is not None and found.kind == "view" else None
            if found is not None and found.kind == "table":
                name = found.name
                cols_of: list[dict[str, Any]] = [c for c in found.definition if not c.get("hidden")]
            elif view is not None:  # its columns as the subscriber reads them: a view never widens a grant
                from govfabric.sharing_modes.query_api.service import view_columns

                name = view
                cols_of = view_columns(self.fabric, view)
            else:
                raise NotFound(f"no virtual table or view {table}; list them with `govfabric vt list` and "
                               "`govfabric view list` (a range is ordered from one)")
            types = {c["name"]: str(c.get("type") or "") for c in cols_of}
            cols = [c.lower() for c in columns] if columns else list(types)
            keys = [c.lower() for c in key] if key else list(cols)
            cc = change_column.lower() if change_column else None
            bad = [c for c in [*cols, *keys, *([cc] if cc else [])] if c not in types]
            if bad:
                raise ValidationFailed(f"{name} has no visible column(s) {', '.join(dict.fromkeys(bad))}; "
                                       f"columns: {', '.join(sorted(types))}")
            text = None
            needed = list(dict.fromkeys([*keys, *cols, *([cc] if cc else [])]))
            if filter and filter.strip():
                tree = parse_filter(filter, types)
                text = tree.sql(dialect="duckdb")
                needed += [c for c in sorted(filter_columns(tree)) if c not in needed]
            # the grant covers what the reads name: the key, the columns, the change and filter columns;
            # over a view the subscriber reads with the grants it holds on the view's tables, and the
            # view's owner approves the subscription alone (request id 0: no access request)
            req_id = 0 if view is not None else \
                self.fabric.access.request(name, columns=needed, purpose=purpose, until=None).id
            secret = secrets.token_urlsafe(32) if push_url else None
            sub = Subscription(subscriber=actor.name, table_name=name, columns=cols, filter=text,
                               key_columns=keys, change_column=cc, push_url=push_url,
                               webhook_secret=self.fabric.secrets.seal(secret) if secret else None,
                               purpose=purpose.strip(), request_id=req_id)
            s.add(sub)
            s.flush()
            append(s, actor.name, "subscription.order", f"{'view' if view else 'vt'}:{name}",
                   {"subscription": sub.id, "request": req_id, "columns": cols, "key": keys,
                    "change_column": cc, "filtered": text is not None, "push": bool(push_url)})
            return sub, secret

    def approve(self, sub_id: int, reason: str | None = None) -> Subscription:
        """Approve the access request (owner rule) with the filter as the grant's row filter."""
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            if sub.status != "pending":
                raise ValidationFailed(f"subscription {sub_id} is {sub.status}, not pending")
            grant_id = None
            if sub.request_id:
                grant_id = self.fabric.access.approve(sub.request_id, row_filter=sub.filter, reason=reason).id
            else:  # over a view: its owner approves; the reads use the subscriber's own grants
                self._require_owner(s, sub, "approve subscriptions to")
                if sub.subscriber == self.fabric.user:
                    raise AccessDenied("you may not approve your own subscription")
            sub.status, sub.grant_id, sub.decided_by, sub.reason, sub.due = \
                "active", grant_id, self.fabric.user, reason, True
            append(s, self.fabric.user, "subscription.approve", f"subscription:{sub.id}",
                   {"grant": grant_id, "to": sub.subscriber, "table": sub.table_name})
            return sub

    def reject(self, sub_id: int, reason: str) -> Subscription:
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            if sub.status != "pending":
                raise ValidationFailed(f"subscription {sub_id} is {sub.status}, not pending")
            if sub.request_id:
                self.fabric.access.reject(sub.request_id, reason)
            else:
                self._require_owner(s, sub, "reject subscriptions to")
            sub.status, sub.decided_by, sub.reason = "rejected", self.fabric.user, reason
            append(s, self.fabric.user, "subscription.reject", f"subscription:{sub.id}",
                   {"to": sub.subscriber, "reason": reason})
            return sub

    # -- lifecycle ----------------------------------------------------------------------------------

    def pause(self, sub_id: int) -> Subscription:
        return self._consumer_move(sub_id, "pause", {"active"}, "paused")

    def resume(self, sub_id: int) -> Subscription:
        """Resume a paused subscription (its consumer) or a suspended one (the owner)."""
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            if sub.status == "suspended":
                self._require_owner(s, sub, "resume a suspended subscription to")
                return self._move(s, sub, "resume", "active")
        return self._consumer_move(sub_id, "resume", {"paused"}, "active")

    def cancel(self, sub_id: int) -> Subscription:
        return self._consumer_move(sub_id, "cancel", {"pending", "active", "paused", "suspended"}, "cancelled")

    def suspend(self, sub_id: int, reason: str | None = None) -> Subscription:
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            self._require_owner(s, sub, "suspend subscriptions to")
            if sub.status not in ("active", "paused"):
                raise ValidationFailed(f"subscription {sub_id} is {sub.status}; only active or paused ones suspend")
            sub.reason = reason
            return self._move(s, sub, "suspend", "suspended")

    def _consumer_move(self, sub_id: int, action: str, allowed: set[str], to: str) -> Subscription:
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            if sub.subscriber != self.fabric.user:
                raise AccessDenied(f"only the subscriber {sub.subscriber} may {action} subscription {sub_id}")
            if sub.status not in allowed:
                raise ValidationFailed(f"subscription {sub_id} is {sub.status}; cannot {action} it")
            return self._move(s, sub, action, to)

    def _move(self, s: Session, sub: Subscription, action: str, to: str) -> Subscription:
        before, sub.status = sub.status, to
        if to == "active":
            sub.due = True
        append(s, self.fabric.user, f"subscription.{action}", f"subscription:{sub.id}",
               {"from": before, "to": to})
        return sub

    # -- reading ---------------------------------------------------------------------------------------

    def list(self, mine: bool = False, status: str | None = None) -> list[Subscription]:
        """The actor's subscriptions, and (stewards, admins) those on tables they govern."""
        actor = self.fabric.actor
        with self.store.session() as s:
            q = select(Subscription).order_by(Subscription.id)
            if status:
                q = q.where(Subscription.status == status)
            rows = list(s.scalars(q))
            if mine:
                return [r for r in rows if r.subscriber == actor.name]
            governed = self.fabric.access.governed(s, {r.table_name for r in rows})
            return [r for r in rows if r.subscriber == actor.name or r.table_name in governed
                    or (not r.request_id and may_steward(actor, self._owner_department(s, r)))]

    def show(self, sub_id: int) -> Subscription:
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            self._require_party(s, sub)
            return sub

    def changes(self, sub_id: int, since: int = 0, limit: int = 1000) -> dict[str, Any]:
        """Pull: ``{changes: [{seq, op, key, row?}], next_cursor}`` after ``since``; rows read now, as
        the subscriber (a key changed again since shows its current row; a deleted one none)."""
        if since < 0 or not 0 < limit <= MAX_PULL:
            raise ValidationFailed(f"since must be ≥ 0 and limit between 1 and {MAX_PULL}")
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            if sub.subscriber != self.fabric.user:
                raise AccessDenied(f"only the subscriber {sub.subscriber} pulls subscription {sub_id}")
            if sub.status != "active":
                raise ValidationFailed(f"subscription {sub_id} is {sub.status}; only active subscriptions deliver")
            s.expunge(sub)
        if sub.due:
            ch.detect(self.fabric, sub)
        out = self._changes(sub, since, limit)
        self._audit_pull(sub, since, out)
        return out

    def _audit_pull(self, sub: Subscription, since: int, out: dict[str, Any]) -> None:
        """The pull's event; over HTTP with the request's ``api.call`` event in the same transaction
        (armed only now: the rows' query above records on its own), one audit transaction per pull."""
        from govfabric.auth.audit import append_many, arm, take_owed

        arm()
        owed, status = take_owed(200), 200
        pull = (self.fabric.audit.actor, "subscription.pull", f"subscription:{sub.id}",
                {"since": since, "returned": len(out["changes"]), "next_cursor": out["next_cursor"]})
        with self.store.session() as s:
            append_many(s, [pull, *([owed.build(status)] if owed is not None else [])])
        if owed is not None:
            owed.written = True

    def _changes(self, sub: Subscription, since: int, limit: int, upto: int | None = None) -> dict[str, Any]:
        with self.store.session() as s:
            q = select(Change).where(Change.subscription_id == sub.id, Change.seq > since)
            if upto is not None:
                q = q.where(Change.seq <= upto)
            recs = list(s.scalars(q.order_by(Change.seq).limit(limit)))
        current = ch.values(self.fabric, sub, [r.key for r in recs if r.op != "delete"])
        items: list[dict[str, Any]] = []
        for r in recs:
            item: dict[str, Any] = {"seq": r.seq, "op": r.op, "key": dict(zip(sub.key_columns, json.loads(r.key),
                                                                              strict=True))}
            if r.op != "delete" and r.key in current:
                item["row"] = current[r.key]
            items.append(item)
        return {"changes": items, "next_cursor": recs[-1].seq if recs else since}

    def deliveries(self, sub_id: int) -> builtins.list[Delivery]:
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            self._require_party(s, sub)
            return list(s.scalars(select(Delivery).where(Delivery.subscription_id == sub_id)
                                  .order_by(Delivery.created_at, Delivery.from_seq)))

    def redeliver(self, sub_id: int, delivery_id: str | None = None) -> builtins.list[Delivery]:
        """Queue a delivery (or every dead one of the subscription) again, from attempt one."""
        with self.store.session() as s:
            sub = self._get(s, sub_id)
            self._require_party(s, sub)
            q = select(Delivery).where(Delivery.subscription_id == sub_id)
            q = q.where(Delivery.id == delivery_id) if delivery_id else q.where(Delivery.status == "dead")
            rows = list(s.scalars(q))
            if not rows:
                raise NotFound(f"no {'delivery ' + delivery_id if delivery_id else 'dead delivery'} of "
                               f"subscription {sub_id}; list them with `govfabric subscription deliveries {sub_id}`")
            for d in rows:
                d.status, d.attempts, d.next_attempt_at, d.last_error = "pending", 0, utcnow(), None
            append(s, self.fabric.user, "subscription.redeliver", f"subscription:{sub_id}",
                   {"deliveries": [d.id for d in rows]})
            return rows

    # -- run: detect and push ----------------------------------------------------------------------------

    def run(self, sub_id: int | None = None, *, only_due: bool = False, drain: bool = False,
            progress: Progress | None = None) -> RunReport:
        """Detect changes of active subscriptions (one, or all the actor may run) and push due
        deliveries; with ``drain``, keep retrying until every delivery is delivered or dead."""
        report = RunReport()
        subs = self._runnable(sub_id, only_due)
        for i, sub in enumerate(subs):
            if progress:
                progress(f"#{sub.id}", i, len(subs))
            try:
                report.changes += ch.detect(self.fabric, sub).total
                report.checked += 1
                if sub.push_url:
                    self._queue(sub.id)
            except Exception as exc:  # one broken subscription does not stop the others
                from govfabric.errors import GovfabricError

                if not isinstance(exc, GovfabricError):
                    raise
                report.errors.append(f"subscription {sub.id}: {exc}")
        ids = [s.id for s in subs] if sub_id is None else [sub_id]
        while True:
            self._push_due(ids, report)
            wait = self._next_wait(ids) if drain else None
            if wait is None:
                break
            time.sleep(wait)
        if progress:
            progress("done", len(subs), len(subs))
        return report

    def _runnable(self, sub_id: int | None, only_due: bool) -> builtins.list[Subscription]:
        actor = self.fabric.actor
        with self.store.session() as s:
            if sub_id is not None:
                sub = self._get(s, sub_id)
                self._require_party(s, sub)
                rows = [sub] if sub.status == "active" else []
            else:
                rows = list(s.scalars(select(Subscription).where(Subscription.status == "active")
                                      .order_by(Subscription.id)))
                if not actor.has("admin"):
                    governed = self.fabric.access.governed(s, {r.table_name for r in rows})
                    rows = [r for r in rows if r.subscriber == actor.name or r.table_name in governed]
            if only_due:
                rows = [r for r in rows if r.due]
            s.expunge_all()
            return rows

    def _queue(self, sub_id: int) -> None:
        """New change records of a push subscription become deliveries (of ≤ PUSH_BATCH changes)."""
        with self.store.session() as s:
            sub = s.get(Subscription, sub_id)
            assert sub is not None
            seqs = list(s.scalars(select(Change.seq).where(Change.subscription_id == sub_id,
                                                           Change.seq > sub.delivered_seq).order_by(Change.seq)))
            for i in range(0, len(seqs), PUSH_BATCH):
                part = seqs[i:i + PUSH_BATCH]
                frm = sub.delivered_seq if i == 0 else seqs[i - 1]
                s.add(Delivery(subscription_id=sub_id, from_seq=frm, to_seq=part[-1], changes=len(part)))
            if seqs:
                sub.delivered_seq = seqs[-1]

    def _push_due(self, ids: builtins.list[int], report: RunReport) -> None:
        with self.store.session() as s:
            active = set(s.scalars(select(Subscription.id).where(Subscription.id.in_(ids),
                                                                 Subscription.status == "active")))
            due = list(s.scalars(select(Delivery).where(Delivery.subscription_id.in_(active),
                                                        Delivery.status == "pending",
                                                        Delivery.next_attempt_at <= utcnow())
                                 .order_by(Delivery.created_at, Delivery.from_seq)))
            s.expunge_all()
        for d in due:
            self._attempt(d, report)

    def _attempt(self, d: Delivery, report: RunReport) -> None:
        settings = self.fabric.settings
        with self.store.session() as s:
            sub = s.get(Subscription, d.subscription_id)
            assert sub is not None and sub.push_url and sub.webhook_secret
            s.expunge(sub)
        secret = self.fabric.secrets.open(sub.webhook_secret)
        try:
            dl.check_target(sub.push_url, settings)
            page = self._changes(sub, d.from_seq, d.changes, upto=d.to_seq)
            status, error = dl.post(sub.push_url, secret, d.id,
                                    dl.body(d.id, sub.id, page["changes"], page["next_cursor"]))
        except ValidationFailed as exc:
            status, error = None, str(exc)
        with self.store.session() as s:
            row = s.get(Delivery, d.id)
            assert row is not None
            row.attempts += 1
            row.last_status, row.last_error = status, error
            if error is None:
                row.status, row.delivered_at = "delivered", utcnow()
                report.delivered += 1
            elif row.attempts >= settings.data_service_max_attempts:
                row.status = "dead"
                report.dead += 1
            else:
                row.next_attempt_at = utcnow() + dl.backoff(settings, row.attempts)
                report.failed += 1
            append(s, self.fabric.user, "subscription.deliver", f"subscription:{sub.id}",
                   {"delivery": d.id, "attempt": row.attempts, "status": row.status, "http": status,
                    "changes": d.changes})

    def _next_wait(self, ids: builtins.list[int]) -> float | None:
        with self.store.session() as s:
            nxt = s.scalar(select(func.min(Delivery.next_attempt_at))
                           .join(Subscription, Subscription.id == Delivery.subscription_id)
                           .where(Delivery.subscription_id.in_(ids), Delivery.status == "pending",
                                  Subscription.status == "active"))
        if nxt is None:
            return None
        return max(0.0, (nxt - utcnow()).total_seconds())

    # -- reactions ---------------------------------------------------------------------------------------

    def mark_due(self, source: str) -> int:
        """A harvest of ``source`` committed: its tables' active subscriptions are checked at the next
        ``run --due`` (cheap: one UPDATE; no data is read here)."""
        with self.store.session() as s:
            tables = table_names_over_assets(asset_ids_of_source(source))
            # an UPDATE gives a CursorResult; Session.execute's stubs say Result, which has no rowcount
            n = cast(CursorResult[Any], s.execute(update(Subscription).where(
                Subscription.status == "active", Subscription.table_name.in_(tables)).values(due=True))).rowcount
            return int(n or 0)

    # -- helpers -------------------------------------------------------------------------------------------

    def _get(self, s: Session, sub_id: int) -> Subscription:
        sub = s.get(Subscription, sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id}; list them with `govfabric subscription list`")
        return sub

    def _owner_department(self, s: Session, sub: Subscription) -> str | None:
        """The asset's department of a virtual table; a view's creator's department (view ownership)."""
        from govfabric.auth import principals

        found = definition(s, sub.table_name)
        if found is not None and found.kind == "table":
            asset = asset_by_id(s, found.asset_id)
            return asset.owner_department if asset else None
        if found is None or found.created_by is None:
            return None
        try:
            return principals.get(s, found.created_by).department
        except NotFound:
            return None

    def _require_owner(self, s: Session, sub: Subscription, what: str) -> None:
        from govfabric.virtualization.access import require_owner

        require_owner(self.fabric.actor, self._owner_department(s, sub), f"{what} {sub.table_name}")

    def _require_party(self, s: Session, sub: Subscription) -> None:
        """The subscriber, the owning department's steward, or an admin."""
        actor = self.fabric.actor
        if sub.subscriber == actor.name or may_steward(actor, self._owner_department(s, sub)):
            return
        raise NotFound(f"no subscription {sub.id}; list them with `govfabric subscription list`")
