"""Security and standards on the demo workspace, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govfabric.cli.main import run

PERSON = "ps_db.main.t_rk_jbxx"


def gf(capsys: pytest.CaptureFixture[str], home: Path, user: str, *args: str) -> tuple[int, str, str]:
    code = run(["--home", str(home), "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_scan_mask_consent(capsys: pytest.CaptureFixture[str], demo_home: Path) -> None:
    code, out, err = gf(capsys, demo_home, "steward_ps", "security", "scan", PERSON, "--sample", "300", "--json")
    assert code == 0, err
    got = {r["column_name"]: r["pii_class"] for r in json.loads(out)}
    assert got["gmsfhm"] == "resident_id" and got["xm"] == "name" and got["sjhm"] == "mobile"
    assert got["hjdz"] == "address" and got["xzz"] == "address"
    assert got["xb"] is None and got["csrq"] is None and got["hjd_xzqh"] is None

    # files (GB18030 CSV) of another department, by source; Chinese column names
    code, out, err = gf(capsys, demo_home, "steward_mr", "security", "scan", "--source", "social_files",
                        "--sample", "200", "--pii-only", "--json")
    assert code == 0, err
    found = {(r["asset_name"].split(".")[-1], r["column_name"]): r["pii_class"] for r in json.loads(out)}
    assert found[("社保缴费明细_2024年1-6月", "公民身份号码")] == "resident_id"
    assert found[("社保缴费明细_2024年1-6月", "姓名")] == "name"
    assert found[("社保缴费明细_2024年1-6月", "统一社会信用代码")] == "uscc"

    assert gf(capsys, demo_home, "steward_ps", "vt", "create", "ps.person", "--from", PERSON)[0] == 0
    code, out, err = gf(capsys, demo_home, "steward_ps", "security", "mask-defaults", "ps.person", "--json")
    assert code == 0, err
    acts = {a["column"]: (a["rule"], a["action"]) for a in json.loads(out)}
    # the demo's harvest already classified these columns, so creating the table masked them
    assert acts == {"gmsfhm": ("resident_id", "kept"), "xm": ("cn_name", "kept"), "sjhm": ("mobile", "kept"),
                    "hjdz": ("address", "kept"), "xzz": ("address", "kept")}
    code, out, _ = gf(capsys, demo_home, "steward_ps", "security", "mask-defaults", "--json")
    assert {a["action"] for a in json.loads(out)} == {"kept"}

    code, _, err = gf(capsys, demo_home, "steward_ps", "security", "confirm", f"{PERSON}.mz", "ethnic")
    assert code != 0 and "unknown PII class 'ethnic'" in err
    code, _, err = gf(capsys, demo_home, "steward_ps", "security", "confirm", f"{PERSON}.nope", "name")
    assert code != 0 and "has no column 'nope'" in err
    assert gf(capsys, demo_home, "steward_ps", "security", "confirm", f"{PERSON}.csrq", "none",
              "--data-level", "important")[0] == 0
    code, out, _ = gf(capsys, demo_home, "auditor1", "security", "list", PERSON, "--json")
    assert {r["column_name"] for r in json.loads(out)} == {"gmsfhm", "xm", "sjhm", "hjdz", "xzz"}

    subject = "110105199001011236"
    from govfabric.identifiers import is_valid_resident_id, resident_id_check_char

    subject = subject[:17] + resident_id_check_char(subject[:17])
    assert is_valid_resident_id(subject)
    bz = "bizsys_approval"
    args = ["--purpose", "企业开办表单预填", "--grantee", bz]
    assert gf(capsys, demo_home, bz, "security", "consent", "give", subject, "--scope", "姓名,户籍地址", *args)[0] == 0
    code, out, _ = gf(capsys, demo_home, bz, "security", "consent", "check", subject, "--scope", "户籍地址", *args,
                      "--json")
    assert code == 0 and json.loads(out)["allowed"] is True and json.loads(out)["trace"] > 0
    code, out, _ = gf(capsys, demo_home, bz, "security", "consent", "check", subject, "--scope", "手机号码", *args)
    assert "refused" in out and "does not cover 手机号码" in out  # exit 1 once cli.main.run returns Exit codes
    code, out, _ = gf(capsys, demo_home, "auditor1", "security", "consent", "list", "--json")
    rows = json.loads(out)
    assert len(rows) == 1 and subject not in out and len(rows[0]["subject"]) == 16
    assert gf(capsys, demo_home, bz, "security", "consent", "withdraw", "--subject", subject)[0] == 0
    code, out, _ = gf(capsys, demo_home, bz, "security", "consent", "check", subject, "--scope", "姓名", *args)
    assert "refused" in out and "withdrawn" in out
    code, _, err = gf(capsys, demo_home, bz, "security", "consent", "give", subject[:17] + "0", "--scope", "姓名",
                      *args)
    assert code != 0 and "check character" in err


def test_demo_standards(capsys: pytest.CaptureFixture[str], demo_home: Path) -> None:
    code, out, _ = gf(capsys, demo_home, "steward_ps", "standards", "elements", "list", "--json")
    assert code == 0 and "sex_code" in {e["identifier"] for e in json.loads(out)}
    code, out, err = gf(capsys, demo_home, "steward_ps", "standards", "suggest", PERSON, "--sample", "200", "--json")
    assert code == 0, err
    sug = {s["column"]: s["element"] for s in json.loads(out)}
    assert sug["gmsfhm"] == "resident_id" and sug["xb"] == "sex_text" and sug["mz"] == "ethnicity_name"
    assert sug["hjd_xzqh"] == "division_code" and sug["csrq"] == "date"
    assert gf(capsys, demo_home, "steward_ps", "standards", "map", f"{PERSON}.xb", "sex_code")[0] == 0
    code, out, err = gf(capsys, demo_home, "steward_ps", "standards", "check", PERSON, "--sample", "200", "--json")
    assert code == 0, err
    rep = json.loads(out)
    xb = [v for v in rep["violations"] if v["target"] == "xb"]
    assert xb and xb[0]["count"] == 200 and "性别代码" in xb[0]["message"]  # 男/女 text is not the code
    assert rep["mappings"]["xb"] == "sex_code (confirmed)" and rep["score"] < 100

    code, out, _ = gf(capsys, demo_home, "admin", "standards", "check", "tax_files.纳税信息.纳税明细", "--json")
    rules = {v["rule"] for v in json.loads(out)["violations"]}
    assert {"table-snake-case", "column-snake-case"} <= rules

    code, _, err = gf(capsys, demo_home, "steward_ps", "standards", "elements", "add", "blood_type", "--name", "b",
                      "--cn-name", "血型", "--type", "varchar")
    assert code != 0 and "data type 'varchar'" in err
    code, _, err = gf(capsys, demo_home, "steward_ps", "standards", "elements", "add", "blood_type", "--name",
                      "blood type", "--cn-name", "血型", "--type", "code", "--codes", "1=A型,2=B型,3=O型,4=AB型")
    assert code == 0, err
    code, _, err = gf(capsys, demo_home, "steward_ps", "standards", "rules", "add", "col-no-tmp", "--applies-to",
                      "column", "--kind", "pattern", "--pattern", "^(?!tmp_)")
    assert code == 0, err
    code, out, _ = gf(capsys, demo_home, "steward_ps", "standards", "rules", "list", "--json")
    assert "col-no-tmp" in {r["name"] for r in json.loads(out)}
