"""The two bundled "一件事" items (``items/*.yaml``) on the demo workspace: the service principal,
the virtual tables they read (made if the demo has not made them), grants to the service principal
(the lookup keys unmasked, other personal columns under the default masks) and the items.
``govfabric demo`` calls :func:`install_demo_items` after building the workspace; idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from govfabric.errors import NotFound
from govfabric.prefill.spec import load_document

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

ITEMS_DIR = Path(__file__).parent / "items"
PRINCIPAL = "prefill_service"
DEPARTMENT = "北京市政务服务管理局"
# virtual table -> (its steward, asset, renames (also the columns kept), columns unmasked for the service)
TABLES: dict[str, tuple[str, str, dict[str, str], list[str]]] = {
    "market.enterprise_register": ("steward_mr", "mr_db.main.t_qy_jbxx",
                          {"tyshxydm": "uscc", "qymc": "name", "qylx": "ent_type", "fddbr_sfzh": "legal_rep_id",
                           "zczb": "capital", "clrq": "founded", "zs": "address", "djzt": "status", "qx": "district"},
                          ["legal_rep_id"]),
    "population.person": ("steward_ps", "ps_db.main.t_rk_jbxx",
                          {"gmsfhm": "id_number", "xm": "name", "xb": "sex", "csrq": "born",
                           "hjd_xzqh": "household_division", "hjdz": "household_address", "sjhm": "phone"},
                          ["id_number"]),
}


def install_demo_items(fabric: Fabric) -> dict[str, Any]:
    """Install the demo items (``fabric`` acts as an admin); returns what was made."""
    fabric.actor.require("admin", action="install the demo prefill items")
    made: dict[str, Any] = {"principal": PRINCIPAL, "tables": [], "items": []}
    if PRINCIPAL not in {p.name for p in fabric.principals()}:
        fabric.add_principal(PRINCIPAL, ["business_system"], kind="business_system", department=DEPARTMENT,
                             display_name="一网通办 表单与材料预填服务")
    for name, (steward, asset, renames, unmasked) in TABLES.items():
        owner = fabric.as_user(steward)
        try:
            owner.virtual.table(name)
        except NotFound:
            owner.virtual.create_table(name, asset, renames=renames, only=list(renames))
            made["tables"].append(name)
        if not owner.access.grants(table=name, grantee=PRINCIPAL):
            owner.access.grant(PRINCIPAL, name, unmasked=unmasked, purpose="一网通办 表单与材料预填")
    existing = {r.name for r in fabric.prefill.list()}
    for path in sorted(ITEMS_DIR.glob("*.yaml")):
        doc = load_document(path)
        if doc.get("name") not in existing:
            made["items"].append(fabric.prefill.create(doc).name)
    return made
