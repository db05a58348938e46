"""Quality runs as a schedule job kind. Kept apart from the service: importing
great-expectations costs seconds, and every command registers the kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def register() -> None:
    """Let ``govfabric schedule add quality ASSET …`` run this module's checks."""
    from govfabric.governance.schedule.service import register_kind

    register_kind("quality", _scheduled_run, validate=_validate, role=("steward",))
