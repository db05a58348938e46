"""Manual registration: every row validated, all errors with row numbers, all or nothing."""

from __future__ import annotations

import json

import pytest

from govfabric.errors import ValidationFailed

HEADER = "名称,中文名称,描述,所属部门,层级,数据领域,主题库,共享属性,开放属性,更新频率,标签,字段\n"


def test_import_csv_with_chinese_headers(steward, tmp_path) -> None:
    f = tmp_path / "assets.csv"
    f.write_text(HEADER + "elic,电子证照目录,全市电子证照,市数据局,市级,电子证照,电子证照库,有条件共享,不予开放,每日,"
                 "证照;目录,\"zzbh:VARCHAR:证照编号;zzlx::证照类型\"\n"
                 "credit,信用信息,,市发展改革委,municipal,social_credit,credit_library,unconditional,open,monthly,,\n",
                 encoding="utf-8")
    created = steward.catalog.import_file(f)
    assert [a.qualified_name for a in created] == ["manual.elic", "manual.credit"]
    d = steward.catalog.dictionary("manual.elic")
    assert d["classification"]["data_domain"] == "e_licences"
    assert d["classification"]["sharing_class"] == "conditional" and d["tags"] == ["证照", "目录"]
    assert [(c["name"], c["cn_name"]) for c in d["columns"]] == [("zzbh", "证照编号"), ("zzlx", "证照类型")]
    assert steward.catalog.search("电子证照")[0].qualified_name == "manual.elic"


def test_import_gb18030_csv(steward, tmp_path) -> None:
    f = tmp_path / "gb.csv"
    f.write_bytes((HEADER + "p,人口信息䶮,,市公安局,市级,自然人,,有条件共享,不予开放,每日,,\n").encode("gb18030"))
    assert steward.catalog.import_file(f)[0].cn_name == "人口信息䶮"


def test_any_invalid_row_imports_nothing_and_names_every_row(steward, tmp_path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(HEADER
                 + "ok1,好的,,市数据局,市级,,,,,,,\n"
                 + "bad1,坏的,,市数据局,村级,,,,,,,\n"
                 + ",无名,,市数据局,,,,,,,,\n"
                 + "ok1,重复,,市数据局,,,,,,,,\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        steward.catalog.import_file(f)
    msg = str(err.value)
    assert "row 3: level" in msg and "村级" in msg
    assert "row 4: name" in msg
    assert "row 5: manual.ok1 duplicates row 2" in msg
    assert steward.catalog.assets() == []
    events = [e.action for e in steward.audit.events()]
    assert "catalog.import" not in events


def test_unknown_field_and_already_registered(steward, tmp_path) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"name": "x", "owner_department": "d", "colour": "red"}]), encoding="utf-8")
    with pytest.raises(ValidationFailed, match="row 1: colour: Extra inputs"):
        steward.catalog.import_file(f)
    f.write_text(json.dumps({"assets": [{"name": "x", "owner_department": "d",
                                         "columns": [{"name": "a", "type": "INT"}]}]}), encoding="utf-8")
    steward.catalog.import_file(f)
    with pytest.raises(ValidationFailed, match="already registered"):
        steward.catalog.import_file(f)


def test_import_xlsx_and_malformed_files(steward, tmp_path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "中文名称", "所属部门", "数据领域"])
    ws.append(["case_lib", "办件库", "市政务服务局", "事件"])
    wb.save(tmp_path / "a.xlsx")
    assert steward.catalog.import_file(tmp_path / "a.xlsx")[0].data_domain == "events"
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ValidationFailed, match="broken.xlsx"):
        steward.catalog.import_file(tmp_path / "broken.xlsx")
    (tmp_path / "b.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        steward.catalog.import_file(tmp_path / "b.json")
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="must be"):
        steward.catalog.import_file(tmp_path / "a.txt")
