"""Write the synthetic records in each department's native form: SQLite databases,
GB18030 CSV, XLSX and row-oriented XML."""

from __future__ import annotations

import csv
import io
import math
import random
import sqlite3
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from govfabric.demo import business, places, schema
from govfabric.demo.model import AS_OF, LICENCE_STATUS, Case, Enterprise, Person
from govfabric.demo.xlsx import write_xlsx
from govfabric.identifiers import generate_uscc


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _write_sqlite(path: Path, tables: dict[schema.TableSpec, list[tuple[object, ...]]]) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        with con:
            for spec, rows in tables.items():
                con.execute(spec.sqlite_ddl())
                con.executemany(spec.sqlite_insert(), rows)
    finally:
        con.close()


def write_market_regulation(path: Path, firms: list[Enterprise], cases: list[Case]) -> dict[str, int]:
    enterprises = [
        (
            f.uscc,
            f.name,
            f.kind,
            f.rep.name,
            f.rep.id,
            f.capital,
            f.established.isoformat(),
            f.district.code,
            f.district.name,
            f.address,
            f.industry.code,
            f.industry.name,
            f.industry.scope,
            f.status,
            f.authority,
            f.phone,
            f.updated.isoformat(sep=" "),
        )
        for f in firms
    ]
    licences = [
        (
            f.licence_no,
            f.uscc,
            f.name,
            f.kind,
            f.rep.name,
            f.capital,
            f.established.isoformat(),
            _iso(f.licence_until),
            f.address,
            f.industry.scope,
            f.authority,
            f.licence_issued.isoformat(),
            LICENCE_STATUS[f.status],
        )
        for f in firms
    ]
    case_rows = [
        (
            c.id,
            c.firm.uscc,
            c.firm.name,
            c.source,
            c.checked.isoformat(),
            c.violation,
            c.outcome,
            c.fine,
            "已结案" if c.closed else "办理中",
            _iso(c.closed),
            c.firm.authority,
            c.officers,
        )
        for c in cases
    ]
    _write_sqlite(
        path, {schema.ENTERPRISES: enterprises, schema.BUSINESS_LICENCES: licences, schema.CASES: case_rows}
    )
    return {"t_qy_jbxx": len(enterprises), "t_yyzz": len(licences), "t_jcaj": len(case_rows)}


def write_public_security(path: Path, people: list[Person]) -> dict[str, int]:
    persons = [
        (
            p.id,
            p.name,
            p.sex_zh,
            p.birth.isoformat(),
            p.ethnicity,
            p.hj_division,
            p.hj_address,
            p.address,
            p.mobile,
            p.updated.isoformat(sep=" "),
        )
        for p in people
    ]
    divisions = [(places.CITY_CODE, places.CITY, None)]
    divisions += [(d.code, d.name, places.CITY_CODE) for d in places.DISTRICTS]
    divisions += [(code, name, None) for code, name in places.BIRTHPLACES]
    _write_sqlite(path, {schema.PERSONS: persons, schema.DIVISIONS: divisions})
    return {"t_rk_jbxx": len(persons), "t_dm_xzqh": len(divisions)}


# -- social security CSV (GB18030) ---------------------------------------------------------------------

SOCIAL_SECURITY_HEADER = (
    "公民身份号码",
    "姓名",
    "统一社会信用代码",
    "单位名称",
    "缴费年月",
    "缴费基数",
    "养老保险单位缴费",
    "养老保险个人缴费",
    "医疗保险单位缴费",
    "医疗保险个人缴费",
    "失业保险单位缴费",
    "失业保险个人缴费",
    "缴费状态",
)
SOCIAL_SECURITY_FILES = ("社保缴费明细_2024年1-6月.csv", "社保缴费明细_2024年7-12月.csv")
_RATES = (0.16, 0.08, 0.098, 0.02, 0.005, 0.005)


def write_social_security(folder: Path, rng: random.Random, firms: list[Enterprise]) -> dict[str, int]:
    halves: list[list[Sequence[str]]] = [[], []]
    for firm in firms:
        for person in firm.employees:
            start = 1 if rng.random() < 0.9 or person is firms[0].employees[0] else rng.randint(2, 12)
            base = rng.randint(6821, 35283)
            amounts = [f"{base * r:.2f}" for r in _RATES]  # the same every month
            for month in range(start, 13):
                status = "补缴" if rng.random() < 0.03 else "正常"
                halves[month > 6].append(
                    (
                        person.id,
                        person.name,
                        firm.uscc,
                        firm.name,
                        f"2024{month:02d}",
                        str(base),
                        *amounts,
                        status,
                    )
                )
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in zip(SOCIAL_SECURITY_FILES, halves, strict=True):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(SOCIAL_SECURITY_HEADER)
        writer.writerows(rows)
        (folder / name).write_bytes(buf.getvalue().encode("gb18030"))
        counts[name] = len(rows)
    return counts


# -- tax XLSX ------------------------------------------------------------------------------------------

TAX_PAYMENTS_SHEET = "纳税明细"
TAX_PAYMENTS_HEADER = (
    "统一社会信用代码",
    "纳税人名称",
    "税种",
    "税款所属期起",
    "税款所属期止",
    "入库日期",
    "实缴金额（元）",
    "主管税务机关",
)
TAX_CREDIT_SHEET = "纳税信用评价"
TAX_CREDIT_HEADER = ("统一社会信用代码", "纳税人名称", "评价年度", "信用级别", "评价得分")
_QUARTERS = ((2023, 4), (2024, 1), (2024, 2), (2024, 3))


def _quarter(year: int, q: int) -> tuple[date, date]:
    start = date(year, 3 * q - 2, 1)
    nxt = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return start, nxt - timedelta(days=1)


def write_tax(path: Path, rng: random.Random, firms: list[Enterprise], fined: set[str]) -> dict[str, int]:
    payments: list[tuple[object, ...]] = []
    ratings: list[tuple[object, ...]] = []
    levels = business.TAX_CREDIT_LEVELS
    for f in firms:
        if f.status != "存续" or f.kind == "个体工商户":
            continue
        office = f"国家税务总局北京市{f.district.name}税务局"
        mu = math.log((f.capital or 50.0) * 40)
        for year, q in _QUARTERS:
            start, end = _quarter(year, q)
            paid = end + timedelta(days=rng.randint(1, 15))
            vat = round(rng.lognormvariate(mu, 0.9), 2)
            payments.append((f.uscc, f.name, "增值税", start, end, paid, vat, office))
            payments.append(
                (f.uscc, f.name, "城市维护建设税", start, end, paid, round(vat * 0.07, 2), office)
            )
        if rng.random() < 0.8:
            paid = date(2024, 5, 1) + timedelta(days=rng.randint(0, 30))
            cit = round(rng.lognormvariate(mu + 0.8, 1.1), 2)
            payments.append(
                (f.uscc, f.name, "企业所得税", date(2023, 1, 1), date(2023, 12, 31), paid, cit, office)
            )
        weights = [lv[3] * (0.3 if f.uscc in fined and lv[0] in "AB" else 1) for lv in levels]
        level, lo, hi, _ = rng.choices(levels, weights=weights)[0]
        ratings.append((f.uscc, f.name, 2023, level, rng.randint(lo, hi)))
    write_xlsx(
        path,
        [(TAX_PAYMENTS_SHEET, TAX_PAYMENTS_HEADER, payments), (TAX_CREDIT_SHEET, TAX_CREDIT_HEADER, ratings)],
    )
    return {TAX_PAYMENTS_SHEET: len(payments), TAX_CREDIT_SHEET: len(ratings)}


# -- e-licence XML -------------------------------------------------------------------------------------


@cache
def _gov_code(name: str, division: str) -> str:
    """A stable synthetic credit code for a government department (authority 1, type 1: 机关)."""
    r = random.Random(name)
    return generate_uscc(r, division, authority="1", entity_type="1", org_code=f"{r.randrange(10**8):08d}")


def _text(v: str) -> str:
    """XML character data; most values need no escaping, and checking is cheaper than escaping."""
    return escape(v) if "&" in v or "<" in v or ">" in v else v


def write_licences(
    path: Path, rng: random.Random, people: list[Person], firms: list[Enterprise]
) -> dict[str, int]:
    records: list[dict[str, str]] = []

    def add(
        kind: str,
        no: str,
        holder: str,
        id_type: str,
        holder_id: str,
        issuer: str,
        division: str,
        issued: date,
        valid_from: date,
        valid_to: date | None,
        status: str | None = None,
    ) -> None:
        type_code, type_name, _ = business.LICENCE_TYPES[kind]
        issuer_code = _gov_code(issuer, division)
        if status is None:
            status = "有效" if valid_to is None or valid_to >= AS_OF else "已过期"
        records.append(
            {
                "licence_id": f"1.2.156.3005.2.{type_code}.{issuer_code}.{len(records) + 1:08d}.001",
                "licence_type_code": type_code,
                "licence_type": type_name,
                "licence_no": no,
                "holder_name": holder,
                "holder_id_type": id_type,
                "holder_id": holder_id,
                "issuer": issuer,
                "issuer_code": issuer_code,
                "issue_date": issued.isoformat(),
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else "",
                "status": status,
            }
        )

    for f in firms:
        add(
            "yyzz",
            f.licence_no,
            f.name,
            "统一社会信用代码",
            f.uscc,
            f.authority,
            f.district.code,
            f.licence_issued,
            f.established,
            f.licence_until,
            LICENCE_STATUS[f.status],
        )
        if f.status == "存续" and (f.industry.code == "H" or (f.industry.code == "F" and rng.random() < 0.3)):
            issued = max(f.established, AS_OF - timedelta(days=rng.randint(30, 1800)))
            form = 2 if f.industry.code == "H" else 1  # 主体业态: 1 食品销售经营者, 2 餐饮服务经营者
            no = f"JY{form}{f.district.code}{rng.randrange(10**6):06d}{rng.randrange(10)}"
            add(
                "spjy",
                no,
                f.name,
                "统一社会信用代码",
                f.uscc,
                f.authority,
                f.district.code,
                issued,
                issued,
                issued.replace(year=issued.year + 5, day=1),
            )
    employed = {p.id for f in firms for p in f.employees}
    for p in people:
        adult_on = p.birth.replace(year=p.birth.year + 18, day=1)
        if adult_on >= AS_OF:
            continue
        if rng.random() < 0.45:
            issued = max(adult_on, AS_OF - timedelta(days=rng.randint(30, 3600)))
            add(
                "jsz",
                p.id,
                p.name,
                "公民身份号码",
                p.id,
                business.LICENCE_TYPES["jsz"][2],
                "110000",
                issued,
                issued,
                issued.replace(year=issued.year + 10, day=1),
            )
        if p.age() >= 25 and rng.random() < 0.25:
            d = places.DISTRICT_BY_CODE.get(p.hj_division, places.DISTRICTS[0])
            issued = AS_OF - timedelta(days=rng.randint(30, 5000))
            no = f"京（{issued.year}）{d.name}不动产权第{rng.randrange(10**7):07d}号"
            add(
                "bdc",
                no,
                p.name,
                "公民身份号码",
                p.id,
                f"北京市规划和自然资源委员会{d.name[:-1]}分局",
                d.code,
                issued,
                issued,
                None,
            )
        if p.id in employed:
            issued = max(adult_on, AS_OF - timedelta(days=rng.randint(30, 3600)))
            add(
                "sbk",
                p.id,
                p.name,
                "公民身份号码",
                p.id,
                business.LICENCE_TYPES["sbk"][2],
                "110000",
                issued,
                issued,
                issued.replace(year=issued.year + 10, day=1),
            )
    fields = [f for f, _ in schema.XML_FIELDS]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<licences source="北京市电子证照库" as_of="{AS_OF.isoformat()}" count="{len(records)}">\n',
    ]
    tags = [(f"<{k}>", f"</{k}>", f"<{k}/>") for k in fields]
    for rec in records:
        out.append("  <licence>")
        for k, (open_, close, empty) in zip(fields, tags, strict=True):
            v = rec[k]
            out.append(f"{open_}{_text(v)}{close}" if v else empty)
        out.append("</licence>\n")
    out.append("</licences>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(out), encoding="utf-8")
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["licence_type"]] = counts.get(rec["licence_type"], 0) + 1
    return counts
