"""Which modules own tables. Importing them fills ``Base.metadata``.

A module listed here has ``models.py`` (tables prefixed with its ``prefix``) and a
``migrations/`` folder holding its own Alembic branch labelled with its name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import govfabric


@dataclass(frozen=True)
class ModuleTables:
    name: str  # Alembic branch label
    package: str  # e.g. "govfabric.catalog"
    prefix: str  # table name prefix, e.g. "catalog_"

    @property
    def migrations_dir(self) -> Path:
        return Path(govfabric.__file__).parent.joinpath(*self.package.split(".")[1:]) / "migrations"


MODULES: tuple[ModuleTables, ...] = (
    ModuleTables("auth", "govfabric.auth", "auth_"),
    ModuleTables("catalog", "govfabric.catalog", "catalog_"),
    ModuleTables("virtualization", "govfabric.virtualization", "virt_"),
    ModuleTables("lineage", "govfabric.governance.lineage", "gov_lineage_"),
    ModuleTables("standards", "govfabric.governance.standards", "gov_std_"),
    ModuleTables("metadata", "govfabric.governance.metadata", "gov_meta_"),
    ModuleTables("quality", "govfabric.governance.quality", "gov_quality_"),
    ModuleTables("security", "govfabric.governance.security", "gov_security_"),
    ModuleTables("schedule", "govfabric.governance.schedule", "gov_sched_"),
    ModuleTables("blockchain", "govfabric.blockchain", "chain_"),
    ModuleTables("mpc", "govfabric.mpc", "mpc_"),
    ModuleTables("data_service", "govfabric.sharing_modes.data_service", "share_ds_"),
    ModuleTables("files", "govfabric.sharing_modes.files", "share_files_"),
    ModuleTables("query_api", "govfabric.sharing_modes.query_api", "share_query_api_"),
    ModuleTables("process", "govfabric.sharing_modes.process", "share_process_"),
    ModuleTables("delta_sharing", "govfabric.sharing_modes.delta_sharing", "share_delta_"),
    ModuleTables("routing", "govfabric.sharing_modes.routing", "share_route_"),
    ModuleTables("licences", "govfabric.prefill.licences", "lic_"),
    ModuleTables("prefill", "govfabric.prefill", "prefill_"),
    ModuleTables("sync", "govfabric.sharing_modes.sync", "share_sync_"),
    ModuleTables("notify", "govfabric.notify", "notify_"),
)


def present_modules() -> list[ModuleTables]:
    """Modules whose models exist in this build (later issues add more)."""
    return [m for m in MODULES if (m.migrations_dir.parent / "models.py").exists()]


def load_models() -> None:
    for m in present_modules():
        importlib.import_module(f"{m.package}.models")
