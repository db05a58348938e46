"""Sharing process management (§8.4.2.10): what is offered, who does what at each stage, how long
each stage may take, and what was shared.

A *share* offers a virtual table, view, conditional query service or dataset. Its sharing class
(无条件共享 / 有条件共享 / 不予共享) and opening class (无条件开放 / 有条件开放 / 不予开放) default to the
catalog classification of the assets behind it and may only be stricter. The lifecycle::

    draft -> submitted -> reviewed -> published <-> suspended -> retired
             (a reviewer may send a submission back to draft)

is walked by the owning department's steward (create, submit, publish, suspend, retire) and the
共享主管部门 ``reviewer`` (review), each step with a reason, audited in its transaction.

Requests reuse the access module's apply → approve → grant: on a 无条件共享 offer a request is
granted at once (the grant is made in the publisher's name, audited); on a 有条件共享 offer it files
one access request per virtual table behind the offer, and the steward's approval (``govfabric
access approve``) makes the grant. A 无条件开放 offer, once published, is granted to the principal
:data:`PUBLIC` (what anonymous portal visitors read).

Suspending keeps existing grants (suspension is a pause: consumers keep what they were given) and
refuses new requests; retiring revokes the grants the share made (automatic ones and to ``public``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.auth import principals
from govfabric.auth.audit import append
from govfabric.auth.principals import PUBLIC
from govfabric.auth.readpath import require_steward
from govfabric.catalog import taxonomy
from govfabric.errors import AccessDenied, AlreadyExists, NotFound, ValidationFailed
from govfabric.sharing_modes.process.models import (
    ShareLimit,
    ShareOffer,
    ShareReminder,
    ShareRequest,
    ShareTransition,
)
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.auth.principals import Actor
    from govfabric.fabric import Fabric

#: the principal that stands for anonymous visitors: granted what 无条件开放 offers publish
TARGET_KINDS = ("table", "view", "service", "dataset")
STATES = ("draft", "submitted", "reviewed", "published", "suspended", "retired")
#: action -> (states it leaves, state it enters, role that takes it)
ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "submit": (("draft",), "submitted", "steward"),
    "approve": (("submitted",), "reviewed", "reviewer"),
    "return": (("submitted",), "draft", "reviewer"),
    "publish": (("reviewed", "suspended"), "published", "steward"),
    "suspend": (("published",), "suspended", "steward"),
    "retire": (("draft", "submitted", "reviewed", "published", "suspended"), "retired", "steward"),
}
#: stages with a time limit: an offer waiting in draft/submitted/reviewed, a request awaiting approval
STAGES = ("draft", "submitted", "reviewed", "request")
DEFAULT_LIMITS_H: dict[str, float] = {"draft": 720.0, "submitted": 120.0, "reviewed": 72.0, "request": 120.0}
#: who is reminded of an overdue stage
DUTY = {"draft": "steward", "submitted": "reviewer", "reviewed": "steward", "request": "steward"}
_SHARING_ORDER = [t.key for t in taxonomy.SHARING_CLASSES]  # loosest first
_OPEN_ORDER = [t.key for t in taxonomy.OPEN_CLASSES]
DEFAULT_SHARING, DEFAULT_OPEN = "conditional", "not_open"  # when the catalog says nothing
MIN_REASON = 2


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise ValidationFailed("give a reason for this step (--reason, at least 2 characters)")
    if len(text) > 2000:
        raise ValidationFailed("a reason is at most 2000 characters")
    return text


def _stricter(order: list[str], *keys: str | None) -> str | None:
    known = [k for k in keys if k]
    return max(known, key=order.index) if known else None


def parse_limits(items: list[str] | None) -> dict[str, float]:
    """``["submitted=48", "request=24"]`` → ``{"submitted": 48.0, …}`` (hours, > 0)."""
    out: dict[str, float] = {}
    for item in items or []:
        stage, _, hours = item.partition("=")
        out.update(check_limit(stage.strip(), hours.strip()))
    return out


def check_limit(stage: str, hours: Any) -> dict[str, float]:
    if stage not in STAGES:
        raise ValidationFailed(f"unknown stage {stage!r}; time limits apply to {', '.join(STAGES)}")
    try:
        value = float(hours)
    except (TypeError, ValueError):
        raise ValidationFailed(f"time limit for {stage} must be a number of hours, not {hours!r}") from None
    if not 0 < value <= 24 * 366:
        raise ValidationFailed(f"time limit for {stage} must be between 0 and 8784 hours")
    return {stage: value}


@dataclass(frozen=True)
class Target:
    """What an offer points at, resolved through the owning modules' read functions."""

    kind: str
    name: str
    tables: list[str]
    department: str | None
    sharing_class: str | None
    open_class: str | None


def offer_dict(o: ShareOffer) -> dict[str, Any]:
    return {"name": o.name, "target_kind": o.target_kind, "target": o.target, "tables": list(o.tables or []),
            "title": o.title, "owner_department": o.owner_department, "sharing_class": o.sharing_class,
            "open_class": o.open_class, "state": o.state, "state_since": o.state_since.isoformat(),
            "limits": dict(o.limits or {}), "created_by": o.created_by, "created_at": o.created_at.isoformat()}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


class Shares:
    """Sharing process management, acting as ``fabric``'s principal."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- offers ----------------------------------------------------------------------------------

    def create(self, kind: str, target: str, *, name: str | None = None, title: str | None = None,
               sharing_class: str | None = None, open_class: str | None = None,
               limits: dict[str, float] | None = None, reason: str | None = None) -> ShareOffer:
        """A draft offer of ``target`` (a steward of its owning department, or an admin)."""
        actor = self.fabric.actor
        found = self._resolve(kind, target)
        name = (name or found.name).strip().lower()
        if not name or len(name) > 256 or any(c.isspace() for c in name):
            raise ValidationFailed(f"share name {name!r} must be 1–256 characters without spaces")
        sharing = self._class("sharing_class", _SHARING_ORDER, sharing_class, found.sharing_class, DEFAULT_SHARING)
        opening = self._class("open_class", _OPEN_ORDER, open_class, found.open_class, DEFAULT_OPEN)
        for stage, hours in (limits or {}).items():
            check_limit(stage, hours)
        with self.store.session() as s:
            require_steward(actor, found.department, f"offer {found.kind} {found.name} for sharing")
            if s.scalar(select(ShareOffer.id).where(ShareOffer.name == name)):
                raise AlreadyExists(f"share {name!r} already exists; choose another --name")
            row = ShareOffer(name=name, target_kind=found.kind, target=found.name, tables=found.tables,
                             title=title, owner_department=found.department, sharing_class=sharing,
                             open_class=opening, state="draft", state_since=utcnow(), limits=dict(limits or {}),
                             created_by=actor.name)
            s.add(row)
            s.flush()
            why = (reason or "").strip() or "created"
            s.add(ShareTransition(offer_id=row.id, from_state=None, to_state="draft", by=actor.name, reason=why))
            append(s, actor.name, "share.create", f"share:{name}",
                   {"kind": found.kind, "target": found.name, "sharing_class": sharing, "open_class": opening,
                    "limits": dict(limits or {})})
            s.flush()
            s.expunge(row)
            return row

    @staticmethod
    def _class(facet: str, order: list[str], given: str | None, catalog: str | None, default: str) -> str:
        """The given class (a key or label), no looser than the catalog's; else the catalog's."""
        chosen = taxonomy.normalise(facet, given) if given else None
        if chosen is None:
            return catalog or default
        if catalog and order.index(chosen) < order.index(catalog):
            raise ValidationFailed(f"{facet} {chosen} is looser than the catalog's {catalog} "
                                   f"({taxonomy.label(facet, catalog)}); an offer may only be stricter")
        return chosen

    def _resolve(self, kind: str, target: str) -> Target:
        """The target through its owner's read functions or service: NotFound when it does not exist."""
        from govfabric.virtualization.read import definition

        kind = (kind or "").strip().lower()
        if kind not in TARGET_KINDS:
            raise ValidationFailed(f"unknown share kind {kind!r}; offer one of {', '.join(TARGET_KINDS)}")
        name = (target or "").strip().lower()
        relation = name
        if kind == "service":
            relation = self.fabric.query_api.get(name).table_name
        elif kind == "dataset":
            relation = self.fabric.datasets.offer(name).name
        with self.store.session() as s:
            found = definition(s, relation)
            if found is None or (kind in ("table", "view") and found.kind != kind):
                group = "vt" if kind == "table" else kind
                raise NotFound(f"no virtual {kind} {name}; list them with `govfabric {group} list`")
            tables = self._tables(s, found.name)
            department = self._department(s, found)
            sharing, opening = self._catalog_classes(s, tables)
        return Target(kind, name, tables, department, sharing, opening)

    @staticmethod
    def _tables(s: Session, name: str) -> list[str]:
        """The virtual tables ``name`` reads (itself for a table), views followed down."""
        from govfabric.virtualization.read import definition, view_dependencies

        tables: set[str] = set()
        todo, seen = [name], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            deps = view_dependencies(s, [current])
            if current in deps:
                todo += deps[current]
            elif (d := definition(s, current)) is not None and d.kind == "table":
                tables.add(d.name)
        return sorted(tables)

    @staticmethod
    def _department(s: Session, found: Any) -> str | None:
        from govfabric.catalog.read import asset_by_id

        if found.kind == "table":
            asset = asset_by_id(s, found.asset_id)
            return asset.owner_department if asset else None
        try:
            return principals.get(s, found.created_by).department if found.created_by else None
        except NotFound:
            return None

    @staticmethod
    def _catalog_classes(s: Session, tables: list[str]) -> tuple[str | None, str | None]:
        """The strictest sharing and opening classes of the assets behind ``tables``."""
        from govfabric.catalog.read import asset_by_id
        from govfabric.virtualization.read import definition

        sharing: str | None = None
        opening: str | None = None
        for t in tables:
            d = definition(s, t)
            asset = asset_by_id(s, d.asset_id) if d is not None else None
            if asset is not None:
                sharing = _stricter(_SHARING_ORDER, sharing, asset.sharing_class)
                opening = _stricter(_OPEN_ORDER, opening, asset.open_class)
        return sharing, opening

    # -- lifecycle -------------------------------------------------------------------------------

    def submit(self, name: str, reason: str) -> ShareOffer:
        return self._step(name, "submit", reason)

    def review(self, name: str, reason: str, *, approve: bool = True) -> ShareOffer:
        return self._step(name, "approve" if approve else "return", reason)

    def publish(self, name: str, reason: str) -> ShareOffer:
        return self._step(name, "publish", reason)

    def suspend(self, name: str, reason: str) -> ShareOffer:
        return self._step(name, "suspend", reason)

    def retire(self, name: str, reason: str) -> ShareOffer:
        return self._step(name, "retire", reason)

    def _step(self, name: str, action: str, reason: str) -> ShareOffer:
        """One lifecycle step: allowed from the offer's state, by the role that owns the stage."""
        actor = self.fabric.actor
        why = _reason(reason)
        leaves, enters, role = ACTIONS[action]
        with self.store.session() as s:
            row = self._offer(s, name)
            self._may_act(actor, row, role, action)
            tightened = self._tighten(s, row)
            if row.state not in leaves:
                raise ValidationFailed(f"share {row.name} is {row.state}; {action} needs it "
                                       f"{' or '.join(leaves)}")
            if enters in ("submitted", "published") and row.sharing_class == "not_shared":
                raise ValidationFailed(f"share {row.name} is 不予共享 (not_shared) and cannot be "
                                       f"{enters}; retire it, or classify the data again in the catalog")
            extra: dict[str, Any] = {"tightened": tightened} if tightened else {}
            if enters == "published" and row.open_class == "open" and not row.public_grants:
                row.public_grants = self._grant_public(s, row)
                extra["public_grants"] = row.public_grants
            if enters == "retired":
                extra["revoked"] = self._revoke_all(s, row, why)
            if action == "submit":
                row.submitted_by = actor.name
            before = row.state
            row.state, row.state_since = enters, utcnow()
            s.add(ShareTransition(offer_id=row.id, from_state=before, to_state=enters, by=actor.name, reason=why))
            append(s, actor.name, f"share.{action}", f"share:{row.name}",
                   {"from": before, "to": enters, "reason": why, **extra})
            s.flush()
            s.expunge(row)
            return row

    def _tighten(self, s: Session, row: ShareOffer) -> dict[str, str]:
        """The catalog may have reclassified the data since the offer was made: the offer takes the
        stricter classes before any step or request (it never stays looser than the catalog)."""
        sharing, opening = self._catalog_classes(s, list(row.tables or []))
        changed: dict[str, str] = {}
        for attr, order, now in (("sharing_class", _SHARING_ORDER, sharing), ("open_class", _OPEN_ORDER, opening)):
            stricter = _stricter(order, getattr(row, attr), now)
            if stricter is not None and stricter != getattr(row, attr):
                setattr(row, attr, stricter)
                changed[attr] = stricter
        return changed

    @staticmethod
    def _may_act(actor: Actor, row: ShareOffer, role: str, action: str) -> None:
        if role == "reviewer":
            actor.require("reviewer", action=f"review share {row.name} (共享主管部门 reviewers review)")
            if row.submitted_by == actor.name and "admin" not in actor.roles:
                raise AccessDenied(f"{actor.name} submitted share {row.name} and may not review it too; "
                                   "ask another reviewer")
        else:
            require_steward(actor, row.owner_department, f"{action} share {row.name}")

    def _grant_public(self, s: Session, row: ShareOffer) -> list[int]:
        """Grant every table behind ``row`` to :data:`PUBLIC` (created on demand, roleless), in the
        acting steward's name and transaction."""
        principals.ensure_public(s, self.fabric.actor.name)
        return [self.fabric.access.grant(PUBLIC, t, purpose=f"open data: share {row.name}").id
                for t in row.tables]

    def _revoke_all(self, s: Session, row: ShareOffer, reason: str) -> list[int]:
        """Revoke the grants the share made itself (automatic requests and ``public``) that stand."""
        from govfabric.virtualization.read import active_grant_ids

        made = list(row.public_grants or [])
        for r in s.scalars(select(ShareRequest).where(ShareRequest.offer_id == row.id)):
            made += list(r.grants or [])
        revoked = active_grant_ids(s, made)
        for gid in revoked:
            self.fabric.access.revoke(gid, reason=f"share {row.name} retired: {reason}")
        return revoked

    # -- requests --------------------------------------------------------------------------------

    def request(self, name: str, purpose: str) -> ShareRequest:
        """Ask for a published offer: 无条件共享 grants now, 有条件共享 files access requests."""
        actor = self.fabric.actor
        purpose = (purpose or "").strip()
        if len(purpose) < 4:
            raise ValidationFailed("say what the data is for: --purpose is required (≥ 4 characters)")
        with self.store.session() as s:
            row = self._offer(s, name)
            if row.state != "published":
                hint = "it is suspended: new requests wait until it is published again" \
                    if row.state == "suspended" else "only published shares take requests"
                raise ValidationFailed(f"share {row.name} is {row.state}; {hint}")
            tightened = self._tighten(s, row)
            if row.sharing_class == "not_shared":  # cannot be published; kept as a second lock
                raise AccessDenied(f"share {row.name} is 不予共享 (not shared)")
            self._no_pending(s, row, actor.name)
            req = ShareRequest(offer_id=row.id, requester=actor.name, department=actor.department,
                               purpose=purpose, mode="automatic" if row.sharing_class == "unconditional"
                               else "approval")
            if req.mode == "automatic":
                grantor = self._grantor(s, row)
                req.grants = [grantor.access.grant(actor.name, t, purpose=f"share {row.name}: {purpose}").id
                              for t in row.tables]
            else:
                req.access_requests = [self.fabric.access.request(t, columns=None, purpose=purpose, until=None).id
                                       for t in row.tables]
            s.add(req)
            s.flush()
            append(s, actor.name, "share.request", f"share:{row.name}",
                   {"request": req.id, "mode": req.mode, "grants": req.grants,
                    "access_requests": req.access_requests, **({"tightened": tightened} if tightened else {})})
            s.expunge(req)
            return req

    def _no_pending(self, s: Session, row: ShareOffer, requester: str) -> None:
        """One open request per requester and share: a second waits for the first's decision."""
        mine = list(s.scalars(select(ShareRequest).where(ShareRequest.offer_id == row.id,
                                                         ShareRequest.requester == requester,
                                                         ShareRequest.mode == "approval")))
        pending = [r["id"] for r in self._request_dicts(s, mine, {row.id: row}) if r["status"] == "pending"]
        if pending:
            raise AlreadyExists(f"your request {pending[0]} for share {row.name} is still pending; wait for "
                                "the steward's decision (`govfabric share show` shows it)")

    def _grantor(self, s: Session, row: ShareOffer) -> Fabric:
        """Who grants automatically: the steward who last published the offer (the act of publishing a
        无条件共享 offer is the approval of every request to come)."""
        by = s.scalar(select(ShareTransition.by).where(ShareTransition.offer_id == row.id,
                                                       ShareTransition.to_state == "published")
                      .order_by(ShareTransition.id.desc()))
        return self.fabric.as_user(by or row.created_by)

    def requests(self, name: str | None = None) -> list[dict[str, Any]]:
        """Requests with their current status; others than stewards, reviewers and auditors see their own."""
        actor = self.fabric.actor
        with self.store.session() as s:
            offers = {o.id: o for o in s.scalars(select(ShareOffer))}
            q = select(ShareRequest).order_by(ShareRequest.id)
            if name:
                q = q.where(ShareRequest.offer_id == self._offer(s, name).id)
            if not actor.has("steward", "reviewer", "auditor"):
                q = q.where(ShareRequest.requester == actor.name)
            return self._request_dicts(s, list(s.scalars(q)), offers)

    @staticmethod
    def _request_dicts(s: Session, rows: list[ShareRequest], offers: dict[str, ShareOffer]) -> list[dict[str, Any]]:
        from govfabric.virtualization.read import access_request_states

        states = access_request_states(s, [i for r in rows for i in r.access_requests or []])
        out = []
        for r in rows:
            status = "granted"
            decided: datetime | None = r.created_at
            if r.mode == "approval":
                found = [states[i] for i in r.access_requests or [] if i in states]
                kinds = {st for st, *_ in found}
                status = "rejected" if "rejected" in kinds else "pending" if "pending" in kinds or not found \
                    else "approved"
                decided = max((d for _, _, d, _ in found if d is not None), default=None) \
                    if status != "pending" else None
            offer = offers.get(r.offer_id)
            out.append({"id": r.id, "share": offer.name if offer else None, "requester": r.requester,
                        "department": r.department, "owner_department": offer.owner_department if offer else None,
                        "purpose": r.purpose, "mode": r.mode, "status": status,
                        "access_requests": list(r.access_requests or []), "grants": list(r.grants or []),
                        "created_at": r.created_at.isoformat(),
                        "decided_at": decided.isoformat() if decided else None,
                        "hours_to_decide": round((decided - r.created_at).total_seconds() / 3600, 3)
                        if decided else None})
        return out

    # -- reading ---------------------------------------------------------------------------------

    def _offer(self, s: Session, name: str) -> ShareOffer:
        row = s.scalar(select(ShareOffer).where(ShareOffer.name == (name or "").strip().lower()))
        if row is None or not self._visible(self.fabric.actor, row):
            raise NotFound(f"no share {name!r}; list them with `govfabric share list`")
        return row

    @staticmethod
    def _visible(actor: Actor, row: ShareOffer) -> bool:
        """Published and suspended offers are public; the others their department's and overseers'."""
        return row.state in ("published", "suspended") or actor.has("reviewer", "auditor") or (
            actor.has("steward") and (row.owner_department in (None, actor.department)))

    def offers(self, state: str | None = None) -> list[ShareOffer]:
        if state is not None and state not in STATES:
            raise ValidationFailed(f"unknown state {state!r}; states: {', '.join(STATES)}")
        actor = self.fabric.actor
        with self.store.session() as s:
            q = select(ShareOffer).order_by(ShareOffer.name)
            if state:
                q = q.where(ShareOffer.state == state)
            rows = [r for r in s.scalars(q) if self._visible(actor, r)]
            s.expunge_all()
            return rows

    def show(self, name: str) -> dict[str, Any]:
        """The offer, its history (with reasons), its requests and its time limits."""
        with self.store.session() as s:
            row = self._offer(s, name)
            history = [{"from": t.from_state, "to": t.to_state, "by": t.by, "reason": t.reason,
                        "at": t.at.isoformat()} for t in s.scalars(
                select(ShareTransition).where(ShareTransition.offer_id == row.id).order_by(ShareTransition.id))]
            limits = self._limits(s, row)
            info = offer_dict(row) | {"history": history, "effective_limits": limits}
        return info | {"requests": self.requests(row.name)}

    # -- time limits and reminders ---------------------------------------------------------------

    def set_limit(self, stage: str, hours: float) -> dict[str, float]:
        """The workspace's time limit for ``stage`` (an admin or reviewer)."""
        actor = self.fabric.actor
        actor.require("reviewer", action="set sharing time limits")
        value = check_limit(stage, hours)[stage]
        with self.store.session() as s:
            row = s.get(ShareLimit, stage)
            if row is None:
                s.add(ShareLimit(stage=stage, hours=value, set_by=actor.name))
            else:
                row.hours, row.set_by, row.set_at = value, actor.name, utcnow()
            append(s, actor.name, "share.limit", f"share-stage:{stage}", {"hours": value})
            return self._workspace_limits(s)

    @staticmethod
    def _workspace_limits(s: Session) -> dict[str, float]:
        return DEFAULT_LIMITS_H | {r.stage: r.hours for r in s.scalars(select(ShareLimit))}

    def _limits(self, s: Session, row: ShareOffer, base: dict[str, float] | None = None) -> dict[str, float]:
        return (base or self._workspace_limits(s)) | {k: float(v) for k, v in (row.limits or {}).items()}

    def overdue(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Offers and requests past their stage's time limit (stewards, reviewers, auditors)."""
        self.fabric.actor.require("steward", "reviewer", "auditor", action="list overdue sharing items")
        with self.store.session() as s:
            return self._overdue(s, now or utcnow())

    def _overdue(self, s: Session, now: datetime) -> list[dict[str, Any]]:
        base = self._workspace_limits(s)
        offers = {o.id: o for o in s.scalars(select(ShareOffer))}
        out: list[dict[str, Any]] = []

        def add(item: str, o: ShareOffer, stage: str, since: datetime) -> None:
            due = since + timedelta(hours=self._limits(s, o, base)[stage])
            if due < now:
                out.append({"item": item, "share": o.name, "owner_department": o.owner_department, "stage": stage,
                            "since": since.isoformat(), "due_at": due.isoformat(),
                            "overdue_hours": round((now - due).total_seconds() / 3600, 2),
                            "notify": f"{DUTY[stage]}" + (f" of {o.owner_department}"
                                                          if DUTY[stage] == "steward" and o.owner_department else ""),
                            "offer_id": o.id, "since_dt": since, "due_dt": due})

        for o in offers.values():
            if o.state in ("draft", "submitted", "reviewed"):
                add(f"offer:{o.name}", o, o.state, o.state_since)
        for r in self._request_dicts(s, list(s.scalars(select(ShareRequest).where(ShareRequest.mode == "approval"))),
                                     offers):
            if r["status"] == "pending":
                row = s.get_one(ShareRequest, r["id"])
                add(f"request:{r['id']}", offers[row.offer_id], "request", row.created_at)
        visible = [x for x in out if self._visible(self.fabric.actor, offers[x["offer_id"]])]
        return sorted(visible, key=lambda x: -x["overdue_hours"])

    def remind(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Record a reminder (row + audit event) for each overdue item not yet reminded in this stage."""
        actor = self.fabric.actor
        actor.require("steward", "reviewer", action="send sharing reminders")
        now = now or utcnow()
        sent = []
        due: list[tuple[dict[str, Any], list[str]]] = []
        with self.store.session() as s:
            for x in self._overdue(s, now):
                done = s.scalar(select(ShareReminder.id).where(ShareReminder.item == x["item"],
                                                               ShareReminder.stage == x["stage"],
                                                               ShareReminder.since == x["since_dt"]))
                if done:
                    continue
                s.add(ShareReminder(item=x["item"], offer_id=x["offer_id"], stage=x["stage"], since=x["since_dt"],
                                    due_at=x["due_dt"], notify=x["notify"], reminded_at=now))
                append(s, actor.name, "share.remind", x["item"],
                       {"share": x["share"], "stage": x["stage"], "due_at": x["due_at"], "notify": x["notify"]})
                sent.append(public_overdue(x))
                due.append((x, self._duty_holders(s, x["stage"], x["owner_department"])))
        for x, holders in due:  # after the commit: a slow mail server never holds the store
            for who in holders:
                self.fabric.notifications.send(
                    who, f"共享事项超期 / overdue: {x['item']} ({x['stage']})",
                    f"{x['item']} of share {x['share']} has been in stage {x['stage']} since {x['since']}; "
                    f"it was due at {x['due_at']}. `govfabric share show {x['share']}`.",
                    link=f"/api/v1/shares/{x['share']}")
        return sent

    @staticmethod
    def _duty_holders(s: Session, stage: str, department: str | None) -> list[str]:
        """Who must act on a stage: reviewers, or the stewards of the owning department."""
        role = DUTY[stage]
        return [p.name for p in principals.list_all(s)
                if p.active and role in (p.roles or []) and (role != "steward" or p.department == department)]

    def reminders(self) -> list[dict[str, Any]]:
        self.fabric.actor.require("steward", "reviewer", "auditor", action="read sharing reminders")
        with self.store.session() as s:
            return [{"item": r.item, "stage": r.stage, "since": r.since.isoformat(), "due_at": r.due_at.isoformat(),
                     "notify": r.notify, "reminded_at": r.reminded_at.isoformat()}
                    for r in s.scalars(select(ShareReminder).order_by(ShareReminder.id))]

    # -- statistics ------------------------------------------------------------------------------

    def stats(self, now: datetime | None = None) -> dict[str, Any]:
        """Per owning department: offers by state and class, requests by status, approval times
        (hours, median and p90), usage (grants made through shares) and overdue items."""
        self.fabric.actor.require("steward", "reviewer", "auditor", action="read sharing statistics")
        with self.store.session() as s:
            offers = {o.id: o for o in s.scalars(select(ShareOffer))}
            requests = self._request_dicts(s, list(s.scalars(select(ShareRequest))), offers)
            overdue = self._overdue(s, now or utcnow())
        depts: dict[str, dict[str, Any]] = {}

        def dept(name: str | None) -> dict[str, Any]:
            key = name or "(none)"
            return depts.setdefault(key, {"department": key, "offers": 0, "by_state": {}, "by_sharing_class": {},
                                          "by_open_class": {}, "requests": 0, "requests_by_status": {},
                                          "_hours": [], "grants": 0, "overdue": 0})

        for o in offers.values():
            d = dept(o.owner_department)
            d["offers"] += 1
            for field, value in (("by_state", o.state), ("by_sharing_class", o.sharing_class),
                                 ("by_open_class", o.open_class)):
                d[field][value] = d[field].get(value, 0) + 1
        for r in requests:
            d = dept(r["owner_department"])
            d["requests"] += 1
            d["requests_by_status"][r["status"]] = d["requests_by_status"].get(r["status"], 0) + 1
            if r["mode"] == "approval" and r["hours_to_decide"] is not None:
                d["_hours"].append(r["hours_to_decide"])
            d["grants"] += len(r["grants"]) + (len(r["access_requests"]) if r["status"] == "approved" else 0)
        for x in overdue:
            dept(x["owner_department"])["overdue"] += 1
        rows = []
        for d in sorted(depts.values(), key=lambda d: d["department"]):
            hours = d.pop("_hours")
            rows.append(d | {"approval_hours_median": round(statistics.median(hours), 3) if hours else None,
                             "approval_hours_p90": _percentile(hours, 90), "decided": len(hours)})
        return {"departments": rows, "generated_at": (now or utcnow()).isoformat()}


def public_overdue(x: dict[str, Any]) -> dict[str, Any]:
    """An overdue item without its internal fields."""
    return {k: v for k, v in x.items() if k not in ("offer_id", "since_dt", "due_dt")}
