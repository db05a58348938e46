"""The CLI group `licence` and the demo's 营业执照 import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from test_licence_library import FIRM, record, write_csv  # the sibling module's builders

from govfabric.cli.main import run
from govfabric.fabric import init_workspace
from govfabric.prefill.licences.service import DEMO_XML, import_demo_licences


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str, user: str | None = None) -> tuple[int, str, str]:
    code = run(["--home", str(home)] + (["--as", user] if user else []) + list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_import_list_show_verify_revoke(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with init_workspace(home) as admin:
        admin.add_principal("steward1", ["steward"], department="市场监管局")
        admin.add_principal("analyst1", ["analyst"])
    files = tmp_path / "f"
    files.mkdir()
    (files / "lic1.pdf").write_bytes(b"%PDF licence")
    src = write_csv(tmp_path / "l.csv", [record(1)])
    code, out, err = gf(capsys, home, "licence", "import", str(src), "--files", str(files), user="steward1")
    assert code == 0 and "imported 1 licence(s), 1 with a file" in out, err
    code, out, _ = gf(capsys, home, "licence", "list", "--holder", FIRM, "--json", user="steward1")
    [row] = json.loads(out)
    assert code == 0 and row["status"] == "valid"
    code, out, _ = gf(capsys, home, "licence", "show", row["id"], "--json", user="steward1")
    assert code == 0 and json.loads(out)["department"] == "市场监管局"
    code, out, _ = gf(capsys, home, "licence", "verify", row["identifier"], user="steward1")
    assert code == 0 and "verified" in out
    code, out, err = gf(capsys, home, "licence", "list", "--holder", FIRM, user="analyst1")
    assert code != 0 and "may not read e-licences" in err and "Traceback" not in err
    code, out, _ = gf(capsys, home, "licence", "revoke", row["id"], "--reason", "注销登记", user="steward1")
    assert code == 0 and "revoked" in out
    code, out, _ = gf(capsys, home, "licence", "verify", row["id"], user="steward1")
    assert code == 1 and "the licence is revoked (注销登记)" in out
    bad = write_csv(tmp_path / "b.csv", [record(2, holder=FIRM[:-1] + ("0" if FIRM[-1] != "0" else "1"))])
    code, _, err = gf(capsys, home, "licence", "import", str(bad), "--files", str(files), user="steward1")
    assert code != 0 and "nothing imported" in err and "line 2:" in err


def test_demo_business_licences_import_and_verify(demo, demo_template: Path) -> None:
    result = import_demo_licences(demo, xml=demo_template / DEMO_XML)
    assert result.imported > 0 and result.files == result.imported
    assert result.completed_check_chars == result.imported  # the demo writes identifiers without one
    with demo.store.session() as s:
        uscc = s.execute(text("select holder_id from lic_licences where status = 'valid' "
                              "and valid_until is null limit 1")).scalar()
    svc = demo.as_user("auditor1")
    [view] = svc.licences.for_holder(uscc)
    assert view.type_name == "营业执照" and svc.licences.verify(view.id).ok
    assert import_demo_licences(demo, xml=demo_template / DEMO_XML).imported == 0  # idempotent
