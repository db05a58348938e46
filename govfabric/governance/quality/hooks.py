"""Quality runs as a schedule job kind. Kept apart from the service: importing
great-expectations costs seconds, and the scheduler imports this module to list its kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govfabric.governance.schedule.service import JobKind

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def _scheduled_run(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    run = fabric.quality.run(target, engine=str(options.get("engine") or "auto"))
    return {"run": run.id, "success": run.success, "failed": run.failed}


def _validate(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    from govfabric.auth.readpath import require_steward
    from govfabric.errors import ValidationFailed
    from govfabric.governance.quality.targets import ENGINES

    asset = fabric.catalog.asset(target)  # NotFound names the asset
    # the run reads the source itself: refused now rather than failing at every tick
    require_steward(fabric.actor, asset.owner_department, f"schedule quality runs of {asset.qualified_name}")
    if options.get("engine", "auto") not in ENGINES:
        raise ValidationFailed(f"quality engine {options['engine']!r} is unknown; use one of {', '.join(ENGINES)}")


#: lets ``govfabric schedule add quality ASSET …`` run this module's checks (see schedule's ``KIND_MODULES``)
SCHEDULE_KINDS = {"quality": JobKind(_scheduled_run, validate=_validate, role=("steward",))}
