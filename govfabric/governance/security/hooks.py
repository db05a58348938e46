"""PII detection at harvest and default masks on new virtual tables (§8.4.4.4), as hooks the
catalog and virtualization services call — they know nothing of this module."""

from __future__ import annotations

from govfabric.hooks import HarvestDone, Subscription, TableCreated, TableRemapped, on


def scan_after_harvest(event: HarvestDone) -> None:
    """Classify the columns of every added or changed asset from names and a bounded sample."""
    fabric, report = event.fabric, event.report
    if not fabric.settings.pii_scan_on_harvest:
        return
    svc = fabric.security
    todo = [*report.added, *report.changed]
    limit = fabric.settings.pii_scan_max_assets
    if len(todo) > limit:
        # a very large harvest: scan the first ones now, say how to scan the rest
        fabric.audit.append("security.scan.deferred", f"source:{report.source}",
                            {"scanned": limit, "deferred": len(todo) - limit,
                             "hint": f"govfabric security scan --source {report.source}"})
        todo = todo[:limit]
    from govfabric.auth.readpath import harvesting

    try:
        with harvesting(fabric, report.source):  # the sample is part of the harvest, a steward action
            svc.scan_many(todo, rows=False)
    finally:
        fabric.release_engines()  # sampling attached the source; do not keep its files open


def mask_new_table(event: TableCreated | TableRemapped) -> None:
    """Default masks of a created or remapped table, in its transaction: a failure raises and
    undoes the table (no table without its masks); hidden columns need none. A remapped column
    now reading personal data gets its default mask."""
    from govfabric.governance.security.service import apply_default_masks

    apply_default_masks(event.fabric, event.row.name)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    on(HarvestDone, scan_after_harvest),
    on(TableCreated, mask_new_table),
    on(TableRemapped, mask_new_table),
)
