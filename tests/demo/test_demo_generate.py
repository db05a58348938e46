from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import polars as pl
import pyarrow.csv as pacsv
import pytest
from defusedxml import ElementTree

from govfabric.demo.generate import SAMPLES, DemoFiles, generate_demo
from govfabric.demo.postgres import write_to_postgres
from govfabric.demo.schema import COLUMN_LABELS, TABLE_LABELS, XML_FIELD_LABELS
from govfabric.errors import SourceError, ValidationFailed
from govfabric.identifiers import is_valid_resident_id, is_valid_uscc, parse_resident_id

ID_COL, USCC_COL = "公民身份号码", "统一社会信用代码"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoFiles:
    return generate_demo(tmp_path_factory.mktemp("demo"))


def _rows(db: Path, sql: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _social(demo: DemoFiles) -> pl.DataFrame:
    return pl.concat(
        [
            pl.read_csv(p, encoding="gb18030", schema_overrides={"缴费年月": pl.String})
            for p in demo.social_security
        ]
    )


def _licences(demo: DemoFiles) -> list[dict[str, str]]:
    root = ElementTree.parse(demo.licences).getroot()
    return [{child.tag: (child.text or "") for child in rec} for rec in root]


def test_sizes_and_systems(demo):
    assert demo.counts["t_qy_jbxx"] == 2000 and demo.counts["t_rk_jbxx"] == 5000
    assert demo.counts["t_jcaj"] > 500 and demo.counts["t_yyzz"] == 2000
    assert [s.key for s in demo.systems] == [
        "market_regulation",
        "public_security",
        "social_security",
        "tax",
        "licences",
    ]
    for system in demo.systems:
        assert system.paths and all(p.is_file() for p in system.paths)
        assert system.department_zh and system.department_en and system.level == "municipal"
        assert system.domains and system.themes
    assert len(demo.social_security) >= 2
    assert demo.system("social_security").encoding == "gb18030"
    themes = {t for s in demo.systems for t in s.themes}
    assert {"e_licence_library", "case_archive_library"} <= themes
    assert demo.samples == SAMPLES


def test_labels_cover_every_sqlite_column(demo):
    for db, system in (
        (demo.market_regulation, "market_regulation"),
        (demo.public_security, "public_security"),
    ):
        tables = [
            r[0] for r in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        assert sorted(tables) == sorted(demo.system(system).tables)
        for table in tables:
            assert TABLE_LABELS[table]
            columns = [r[0] for r in _rows(db, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)]
            assert list(COLUMN_LABELS[table]) == columns


def test_every_identifier_is_valid(demo):
    mr, ps = demo.market_regulation, demo.public_security
    for sql in (
        "SELECT tyshxydm FROM t_qy_jbxx",
        "SELECT tyshxydm FROM t_yyzz",
        "SELECT tyshxydm FROM t_jcaj",
    ):
        codes = [r[0] for r in _rows(mr, sql)]
        assert codes and all(map(is_valid_uscc, codes)), sql
    reps = [r[0] for r in _rows(mr, "SELECT fddbr_sfzh FROM t_qy_jbxx")]
    assert all(map(is_valid_resident_id, reps))
    people = _rows(ps, "SELECT gmsfhm, xb, csrq FROM t_rk_jbxx")
    assert all(is_valid_resident_id(pid) for pid, _, _ in people)
    for pid, sex, born in people:  # the number agrees with the recorded sex and birth date
        _, birth, parsed_sex = parse_resident_id(pid)
        assert (birth.isoformat(), parsed_sex) == (born, "M" if sex == "男" else "F")
    social = _social(demo)
    assert all(map(is_valid_resident_id, social[ID_COL].unique().to_list()))
    assert all(map(is_valid_uscc, social[USCC_COL].unique().to_list()))
    for rec in _licences(demo):
        check = is_valid_uscc if rec["holder_id_type"] == USCC_COL else is_valid_resident_id
        assert check(rec["holder_id"]), rec
        assert is_valid_uscc(rec["issuer_code"])


def test_keys_are_unique(demo):
    for db, table, key in (
        (demo.market_regulation, "t_qy_jbxx", "tyshxydm"),
        (demo.market_regulation, "t_qy_jbxx", "qymc"),
        (demo.market_regulation, "t_yyzz", "zzbh"),
        (demo.market_regulation, "t_jcaj", "ajbh"),
        (demo.public_security, "t_rk_jbxx", "gmsfhm"),
    ):
        values = [r[0] for r in _rows(db, f'SELECT "{key}" FROM "{table}"')]
        assert len(values) == len(set(values)), (table, key)
    ids = [rec["licence_id"] for rec in _licences(demo)]
    assert len(ids) == len(set(ids))


def test_systems_join(demo):
    people = dict(_rows(demo.public_security, "SELECT gmsfhm, xm FROM t_rk_jbxx"))
    firms = dict(_rows(demo.market_regulation, "SELECT tyshxydm, qymc FROM t_qy_jbxx"))
    for rep_id, rep_name in _rows(demo.market_regulation, "SELECT fddbr_sfzh, fddbr FROM t_qy_jbxx"):
        assert people[rep_id] == rep_name
    social = _social(demo)
    pairs = social.select(ID_COL, "姓名", USCC_COL, "单位名称").unique().rows()
    assert all(people[pid] == name and firms[code] == firm for pid, name, code, firm in pairs)
    tax = pl.read_excel(demo.tax, sheet_name="纳税明细")
    assert set(tax[USCC_COL].to_list()) <= set(firms)
    licences = _licences(demo)
    holders = {rec["holder_id"] for rec in licences}
    assert set(firms) <= holders
    assert {rec["holder_id"] for rec in licences if rec["holder_id_type"] == ID_COL} <= set(people)
    cases = _rows(demo.market_regulation, "SELECT tyshxydm, qymc FROM t_jcaj")
    assert all(firms[code] == name for code, name in cases)


def test_samples_are_present(demo):
    s = demo.samples
    assert _rows(demo.public_security, "SELECT xm, sjhm FROM t_rk_jbxx WHERE gmsfhm = ?", s["person_id"]) == [
        ("刘䶮", s["person_mobile"])
    ]
    firm = _rows(
        demo.market_regulation,
        "SELECT qymc, fddbr, fddbr_sfzh FROM t_qy_jbxx WHERE tyshxydm = ?",
        s["enterprise_uscc"],
    )
    assert firm == [(s["enterprise_name"], "刘䶮", s["person_id"])]
    case = _rows(
        demo.market_regulation, "SELECT tyshxydm, cljg, fkje FROM t_jcaj WHERE ajbh = ?", s["case_id"]
    )
    assert case == [(s["case_enterprise_uscc"], "罚款", 20000.0)]
    non_bmp = _rows(
        demo.public_security, "SELECT xm, csrq FROM t_rk_jbxx WHERE gmsfhm = ?", s["non_bmp_person_id"]
    )
    assert non_bmp == [(s["non_bmp_person_name"], "1996-02-29")]
    assert ord(s["non_bmp_person_name"][-1]) > 0xFFFF


def test_liu_yan_survives_gb18030_in_every_reader(demo):
    target = SAMPLES["person_id"]
    holding = [p for p in demo.social_security if "刘䶮".encode("gb18030") in p.read_bytes()]
    assert holding, "刘䶮 must appear in a social security CSV"
    path = holding[0]
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gbk")  # GBK cannot carry 䶮: only a GB18030 reader gets this file right
    df = pl.read_csv(path, encoding="gb18030", schema_overrides={"缴费年月": pl.String})
    assert df.columns[:2] == [ID_COL, "姓名"]
    assert set(df.filter(pl.col("姓名") == "刘䶮")[ID_COL].to_list()) == {target}
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding="gb18030"))
    assert target in {
        pid
        for pid, name in zip(table[ID_COL].to_pylist(), table["姓名"].to_pylist(), strict=True)
        if name == "刘䶮"
    }
    with path.open(encoding="gb18030", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["姓名"] == "刘䶮"]
    assert rows and rows[0][ID_COL] == target and rows[0][USCC_COL] == SAMPLES["enterprise_uscc"]
    # non-BMP names survive too
    all_names = set(_social(demo)["姓名"].to_list())
    assert any(any(ord(ch) > 0xFFFF for ch in name) for name in all_names)


def test_xlsx_reads_with_typed_columns(demo):
    payments = pl.read_excel(demo.tax, sheet_name="纳税明细")
    assert payments.columns == [
        USCC_COL,
        "纳税人名称",
        "税种",
        "税款所属期起",
        "税款所属期止",
        "入库日期",
        "实缴金额（元）",
        "主管税务机关",
    ]
    assert payments.schema["入库日期"] == pl.Date and payments.schema["实缴金额（元）"] == pl.Float64
    assert payments.height == demo.counts["纳税明细"]
    assert payments["入库日期"].max().isoformat() <= "2024-12-31"
    assert set(payments["税种"].unique().to_list()) == {"增值税", "城市维护建设税", "企业所得税"}
    ratings = pl.read_excel(demo.tax, sheet_name="纳税信用评价")
    assert ratings.schema["评价年度"] == pl.Int64 and set(ratings["信用级别"].unique()) <= set("ABMCD")


def test_xml_is_row_oriented_with_all_fields(demo):
    licences = _licences(demo)
    assert all(list(rec) == list(XML_FIELD_LABELS) for rec in licences)
    kinds = {rec["licence_type"] for rec in licences}
    assert {"营业执照", "食品经营许可证", "机动车驾驶证", "不动产权证书", "社会保障卡"} <= kinds
    assert sum(rec["licence_type"] == "营业执照" for rec in licences) == 2000
    mine = [rec for rec in licences if rec["holder_id"] == SAMPLES["enterprise_uscc"]]
    assert mine and mine[0]["holder_name"] == SAMPLES["enterprise_name"]
    assert any(rec["holder_name"] == "刘䶮" for rec in licences)
    assert all(rec["issue_date"] <= "2024-12-31" for rec in licences)


def test_deterministic_per_seed(demo, tmp_path):
    again = generate_demo(tmp_path / "again")
    for a, b in (
        (demo.licences, again.licences),
        (demo.tax, again.tax),
        *zip(demo.social_security, again.social_security, strict=True),
    ):
        assert a.read_bytes() == b.read_bytes(), a.name
    for a, b in (
        (demo.market_regulation, again.market_regulation),
        (demo.public_security, again.public_security),
    ):
        ca, cb = sqlite3.connect(a), sqlite3.connect(b)
        assert list(ca.iterdump()) == list(cb.iterdump())
        ca.close()
        cb.close()
    other = generate_demo(tmp_path / "other", seed=7)
    assert other.licences.read_bytes() != demo.licences.read_bytes()
    # anchors are the same for every seed
    rows = _rows(other.public_security, "SELECT xm FROM t_rk_jbxx WHERE gmsfhm = ?", SAMPLES["person_id"])
    assert rows == [("刘䶮",)]


def test_scale_is_checked(tmp_path):
    with pytest.raises(ValidationFailed, match="scale"):
        generate_demo(tmp_path, scale=0)
    assert not any(tmp_path.iterdir())


def test_write_to_postgres_reports_an_unreachable_server(demo):
    with pytest.raises(SourceError, match=r"postgres:\*\*\*@127\.0\.0\.1:1/") as err:
        write_to_postgres(demo, "postgresql://postgres:secret@127.0.0.1:1/postgres")
    assert "secret" not in str(err.value)
    with pytest.raises(ValidationFailed, match="unknown demo system"):
        write_to_postgres(demo, "postgresql://127.0.0.1:1/x", systems=("tax",))
