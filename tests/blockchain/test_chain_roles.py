"""Role checks behind `chain` commands (issue 10, must-include 11): anchoring an asset is its
department's steward's or an admin's; the audit log auditors' and admins'; files stewards';
the consortium and the demo admins'."""

from __future__ import annotations

import pytest

from govfabric.blockchain import fabric_ops
from govfabric.errors import AccessDenied

ASSET = "mr_db.main.t_qy_jbxx"


def test_anchor_and_consortium_need_the_right_role(demo, tmp_path) -> None:
    analyst, steward_ps, auditor = (demo.as_user(u) for u in ("analyst1", "steward_ps", "auditor1"))
    with pytest.raises(AccessDenied, match="may not anchor mr_db.main.t_qy_jbxx"):
        fabric_ops.anchor_assets(analyst, [ASSET])
    with pytest.raises(AccessDenied, match="only a steward of 北京市市场监督管理局"):
        fabric_ops.anchor_assets(steward_ps, [ASSET])
    with pytest.raises(AccessDenied, match="anchor the audit log"):
        fabric_ops.anchor_audit(analyst)
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(AccessDenied, match="anchor files"):
        fabric_ops.anchor_files(analyst, [f])
    with pytest.raises(AccessDenied, match="admit departments"):
        fabric_ops.add_department(demo, "rogue")
    with pytest.raises(AccessDenied, match="chain demo"):
        fabric_ops.run_demo(analyst)
    with pytest.raises(AccessDenied, match="recompute the digest"):
        fabric_ops.verify_item(analyst, "asset", ASSET)
    assert fabric_ops.anchor_assets(demo, [ASSET]).item_count == 1  # steward_mr owns it
    assert fabric_ops.verify_item(auditor, "asset", ASSET).ok
    assert fabric_ops.anchor_audit(auditor).item_count >= 1
