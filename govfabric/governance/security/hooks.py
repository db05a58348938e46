"""PII detection at harvest and default masks on new virtual tables (§8.4.4.4), as hooks the
catalog and virtualization services call — they know nothing of this module."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govfabric.catalog import service as catalog_service
from govfabric.virtualization import tables as vt_tables

if TYPE_CHECKING:
    from govfabric.catalog.harvest.sync import SyncReport
    from govfabric.fabric import Fabric


def scan_after_harvest(fabric: Fabric, report: SyncReport) -> None:
    """Classify the columns of every added or changed asset from names and a bounded sample."""
    if not fabric.settings.pii_scan_on_harvest:
        return
    from govfabric.governance.security.service import SecurityService

    svc = SecurityService(fabric)
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
            for qn in todo:
                svc.scan(qn)
    finally:
        fabric.release_engines()  # sampling attached the source; do not keep its files open


def mask_new_table(fabric: Fabric, row: Any) -> None:
    """Default masks of a created or remapped table, in its transaction: a failure raises and
    undoes the table (no table without its masks); hidden columns need none."""
    from govfabric.governance.security.service import apply_default_masks

    apply_default_masks(fabric, row.name)


def register() -> None:
    if scan_after_harvest not in catalog_service.AFTER_HARVEST:
        catalog_service.AFTER_HARVEST.append(scan_after_harvest)
    if mask_new_table not in vt_tables.AFTER_CREATE_TABLE:
        vt_tables.AFTER_CREATE_TABLE.append(mask_new_table)
