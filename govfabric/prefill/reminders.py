"""容缺 reminders as a schedule job kind: ``govfabric schedule add prefill_reminders ITEM|all
--every 1d`` finds the materials of that item (or every item) due within ``days`` (default 1) or
overdue, and writes one ``prefill.remind`` audit event each (no values: the applicant as its keyed
hash), then notifies the applicant when a person principal is linked to them (``applicant_id``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.auth.audit import append
from govfabric.errors import GovfabricError, ValidationFailed
from govfabric.governance.schedule.service import JobKind
from govfabric.prefill.applicants import LINK
from govfabric.prefill.models import PendingRow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def remind(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    """Audit a reminder for each pending 容缺 material due within ``days`` days (or overdue)."""
    days = int(options.get("days", 1))
    horizon = date.today() + timedelta(days=days)
    with fabric.store.session() as s:
        q = select(PendingRow).where(PendingRow.status == "pending", PendingRow.due <= horizon)
        if target != "all":
            q = q.where(PendingRow.item == target)
        rows = list(s.scalars(q.order_by(PendingRow.due)))
        for r in rows:
            append(s, fabric.user, "prefill.remind", f"pending:{r.id}",
                   {"item": r.item, "material": r.material, "applicant": r.applicant_hash[:16],
                    "due": r.due.isoformat(), "overdue": r.due < date.today()})
        linked = _linked_applicants(fabric, s)
    for r in rows:  # after the commit: a slow mail server never holds the store
        for who in linked.get(r.applicant_hash, []):
            fabric.notifications.send(
                who, f"材料待补 / material due: {r.material}",
                f"The material {r.material} of {r.item} (容缺) is due on {r.due.isoformat()}"
                + (" and is overdue." if r.due < date.today() else ".") + " Hand it in to the service desk.")
    return {"reminded": len(rows), "overdue": sum(r.due < date.today() for r in rows)}


def _linked_applicants(fabric: Fabric, s: Any) -> dict[str, list[str]]:
    """Applicant hash -> the active person principals linked to that applicant."""
    from govfabric.auth import principals
    from govfabric.governance.security.consent import normalise_subject

    out: dict[str, list[str]] = {}
    for p in principals.list_all(s):
        value = (p.attributes or {}).get(LINK)
        if p.kind != "person" or not p.active or not isinstance(value, str):
            continue
        try:
            digest = fabric.security.consent.subject_hash(normalise_subject(value))
        except GovfabricError:
            continue
        out.setdefault(digest, []).append(p.name)
    return out


def _validate(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    if target != "all":
        fabric.prefill.get(target)  # NotFound names the item
    days = options.get("days", 1)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        raise ValidationFailed("option days must be a whole number from 0 to 365")


#: lets ``govfabric schedule add prefill_reminders ITEM|all`` run (see schedule's ``KIND_MODULES``)
SCHEDULE_KINDS = {"prefill_reminders": JobKind(remind, validate=_validate, role=("steward",))}
