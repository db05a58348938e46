"""Overdue reminders on a schedule: ``govfabric schedule add share_reminders all --every 1h`` records a
reminder (a row and an audit event) for each sharing offer or request past its stage's time limit,
once per stage entry, as ``govfabric share overdue --remind`` does by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govfabric.errors import ValidationFailed
from govfabric.governance.schedule.service import JobKind

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def run(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    sent = fabric.shares.remind()
    return {"reminded": len(sent), "items": [x["item"] for x in sent]}


def _validate(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    if target != "all":
        raise ValidationFailed(f"target {target!r}: share reminders cover every share; give 'all'")
    if options:
        raise ValidationFailed(f"unknown option(s) {', '.join(sorted(options))}; share_reminders takes none")


#: lets ``govfabric schedule add share_reminders all`` run (see schedule's ``KIND_MODULES``)
SCHEDULE_KINDS = {"share_reminders": JobKind(run, validate=_validate, role=("steward", "reviewer"))}
