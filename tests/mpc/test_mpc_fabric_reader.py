"""Providers read through the hub's virtual SQL layer: their own grants apply, reads are audited."""

from __future__ import annotations

import pytest

from govfabric.errors import AccessDenied
from govfabric.mpc import compute
from govfabric.mpc.data import FabricReader
from govfabric.mpc.spec import TaskSpec


def test_fabric_reader_uses_grants_and_audits(demo) -> None:
    demo.virtual.create_table(
        "market.enterprise",
        "mr_db.main.t_qy_jbxx",
        renames={"qx": "district", "zczb": "capital"},
        only=["qx", "zczb"],
    )
    table = FabricReader(demo).read("market.enterprise", ["district", "capital"], "capital > 0")
    assert table.column_names == ["district", "capital"] and table.num_rows > 0
    assert "mpc.data_read" in {e.action for e in demo.audit.events()}
    with pytest.raises(AccessDenied):
        FabricReader(demo.as_user("analyst1")).read("market.enterprise", ["capital"], None)
    districts = sorted({str(d) for d in table.column("district").to_pylist()})
    spec = TaskSpec(
        title="t",
        sources=[
            {"party": "a", "asset": "market.enterprise", "value": "capital", "group": "district"},
            {"party": "b", "asset": "market.enterprise", "value": "capital", "group": "district"},
        ],
        computation={"kind": "mean", "groups": districts},
    )
    rows = compute.plaintext(spec, {"a": table, "b": table})["rows"]
    assert sum(r["count"] for r in rows) == 2 * table.num_rows
