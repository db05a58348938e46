"""Subscriptions on a schedule: ``govfabric schedule add subscriptions ID|all --every 5m`` detects
changes and pushes due deliveries, as ``govfabric subscription run`` does by hand. With option
``due_only`` (default true) only subscriptions a harvest marked due are checked for changes;
retries that have come due are pushed either way."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from govfabric.errors import ValidationFailed
from govfabric.governance.schedule.service import JobKind

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def _sub_id(target: str) -> int | None:
    if target == "all":
        return None
    try:
        return int(target)
    except ValueError:
        raise ValidationFailed(f"target {target!r}: give a subscription id or 'all'") from None


def run(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    """One pass over the target subscriptions; the report (checked, changes, delivered, …)."""
    sub_id = _sub_id(target)
    report = fabric.subscriptions.run(sub_id, only_due=bool(options.get("due_only", True)) and sub_id is None)
    return asdict(report)


def _validate(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    sub_id = _sub_id(target)
    if sub_id is not None:
        fabric.subscriptions.show(sub_id)  # NotFound names it; a stranger's is refused
    unknown = set(options) - {"due_only"}
    if unknown:
        raise ValidationFailed(f"unknown option(s) {', '.join(sorted(unknown))}; subscriptions take due_only")
    if not isinstance(options.get("due_only", True), bool):
        raise ValidationFailed("option due_only must be true or false")


#: lets ``govfabric schedule add subscriptions ID|all`` run (see schedule's ``KIND_MODULES``)
SCHEDULE_KINDS = {"subscriptions": JobKind(run, validate=_validate, role=("steward", "analyst", "business_system"))}
