"""The synthetic population and economy behind every demo file.

One seeded ``random.Random`` drives everything, and the demo's "today" is the fixed
:data:`AS_OF`, so a seed always yields the same data. A few anchor records are the
same for every seed (see :data:`SAMPLES`) so tests and docs can name them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate

from govfabric.demo import business, names, places
from govfabric.identifiers import (
    generate_resident_id,
    generate_uscc,
    org_code_check_char,
    resident_id_check_char,
    uscc_check_char,
)

AS_OF = date(2024, 12, 31)
"""The demo's "today": nothing in the generated data is later than this."""


@dataclass(slots=True)
class Person:
    id: str
    name: str
    sex: str  # "M" / "F"
    birth: date
    ethnicity: str
    hj_division: str
    hj_address: str
    address: str
    mobile: str | None
    updated: datetime

    @property
    def sex_zh(self) -> str:
        return "男" if self.sex == "M" else "女"

    def age(self, on: date = AS_OF) -> int:
        return on.year - self.birth.year - ((on.month, on.day) < (self.birth.month, self.birth.day))


@dataclass(slots=True)
class Enterprise:
    uscc: str
    name: str
    kind: str
    rep: Person
    capital: float | None
    established: date
    district: places.District
    address: str
    industry: business.Industry
    status: str
    phone: str | None
    updated: datetime
    licence_no: str = ""
    licence_issued: date = AS_OF
    licence_until: date | None = None
    employees: list[Person] = field(default_factory=list)

    @property
    def authority(self) -> str:
        return f"{places.CITY}{self.district.name}市场监督管理局"


@dataclass(slots=True)
class Case:
    id: str
    firm: Enterprise
    source: str
    checked: date
    violation: str | None
    outcome: str
    fine: float | None
    closed: date | None
    officers: str


# -- anchors: identical for every seed ---------------------------------------------------------------


def _anchor_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def _anchor_uscc(prefix: str, org: str) -> str:
    first17 = prefix + org + org_code_check_char(org)
    return first17 + uscc_check_char(first17)


_LIU_YAN_ID = _anchor_id("11010819880615217")
_OUYANG_ID = _anchor_id("11010519751102135")
_ZHUGE_ID = _anchor_id("11010219960229248")
_SHANGGUAN_ID = _anchor_id("37010220010909062")
_ANCHOR_USCC = _anchor_uscc("91110108", "MA01Y8K2")
_ANCHOR2_USCC = _anchor_uscc("91110105", "MA00DF3N")
_ANCHOR_CASE = "JC110105202400001"

SAMPLES: dict[str, str] = {
    "person_name": "刘䶮",
    "person_id": _LIU_YAN_ID,
    "person_mobile": "13581234567",
    "enterprise_uscc": _ANCHOR_USCC,
    "enterprise_name": "北京数聚云图科技有限公司",
    "enterprise_legal_rep_id": _LIU_YAN_ID,
    "compound_surname_person_name": "欧阳晓峰",
    "compound_surname_person_id": _OUYANG_ID,
    "non_bmp_person_name": "诸葛𫟼",
    "non_bmp_person_id": _ZHUGE_ID,
    "leap_day_person_id": _ZHUGE_ID,
    "born_elsewhere_person_id": _SHANGGUAN_ID,
    "case_id": _ANCHOR_CASE,
    "case_enterprise_uscc": _ANCHOR2_USCC,
    "case_enterprise_name": "北京鼎盛餐饮管理有限公司",
}
"""Known values present in every generated demo, whatever the seed or scale."""

_STAMP = datetime(2024, 12, 1, 9, 30, 0)


def _anchor_people() -> list[Person]:
    return [
        Person(
            _LIU_YAN_ID,
            "刘䶮",
            "M",
            date(1988, 6, 15),
            "汉族",
            "110108",
            "北京市海淀区学院路30号院5号楼2单元301室",
            "北京市海淀区知春路12号院3号楼1单元1502室",
            SAMPLES["person_mobile"],
            _STAMP,
        ),
        Person(
            _OUYANG_ID,
            "欧阳晓峰",
            "M",
            date(1975, 11, 2),
            "汉族",
            "110105",
            "北京市朝阳区朝阳北路101号院8号楼3单元602室",
            "北京市朝阳区朝阳北路101号院8号楼3单元602室",
            "13911027345",
            _STAMP,
        ),
        Person(
            _ZHUGE_ID,
            "诸葛𫟼",
            "F",
            date(1996, 2, 29),
            "满族",
            "110102",
            "北京市西城区月坛北街7号院2号楼1单元403室",
            "北京市海淀区苏州街18号院1号楼908室",
            "18610295531",
            _STAMP,
        ),
        Person(
            _SHANGGUAN_ID,
            "上官婉清",
            "F",
            date(2001, 9, 9),
            "汉族",
            "110108",
            "北京市海淀区中关村大街59号院6号楼2单元1101室",
            "北京市昌平区回龙观西大街9号院4号楼702室",
            "15901346628",
            _STAMP,
        ),
    ]


# -- random population ---------------------------------------------------------------------------------

_AGE_BUCKETS = ((0, 17, 15), (18, 35, 30), (36, 60, 38), (61, 90, 17))


def _birth(rng: random.Random) -> date:
    lo, hi, _ = rng.choices(_AGE_BUCKETS, weights=[b[2] for b in _AGE_BUCKETS])[0]
    age_days = rng.randint(lo * 365 + 1, hi * 365 + 364)
    return AS_OF - timedelta(days=age_days)


def _stamp(rng: random.Random, after: date) -> datetime:
    start = max(after, date(2020, 1, 1))
    day = start + timedelta(days=rng.randint(0, max(0, (AS_OF - start).days)))
    return datetime(day.year, day.month, day.day, rng.randint(8, 19), rng.randint(0, 59), rng.randint(0, 59))


def make_people(rng: random.Random, count: int) -> list[Person]:
    people = _anchor_people()
    ids = {p.id for p in people}
    mobiles = {p.mobile for p in people}
    while len(people) < count:
        sex = rng.choice("MF")
        born = _birth(rng)
        hj = places.district(rng)
        division = hj.code if rng.random() < 0.68 else rng.choice(places.BIRTHPLACES)[0]
        pid = generate_resident_id(rng, division, born, sex)
        if pid in ids:
            continue
        ids.add(pid)
        mobile = None
        if born <= AS_OF.replace(year=AS_OF.year - 16) and rng.random() < 0.97:
            mobile = names.mobile(rng)
            while mobile in mobiles:
                mobile = names.mobile(rng)
            mobiles.add(mobile)
        hj_address = places.home_address(rng, hj)
        address = hj_address if rng.random() < 0.55 else places.home_address(rng, places.district(rng))
        people.append(
            Person(
                pid,
                names.full_name(rng, sex),
                sex,
                born,
                names.ethnicity(rng),
                hj.code,
                hj_address,
                address,
                mobile,
                _stamp(rng, born),
            )
        )
    return people


# -- enterprises ---------------------------------------------------------------------------------------

_KIND_WEIGHTS = tuple(w for _, w in business.ENTERPRISE_TYPES)
_STATUS_WEIGHTS = tuple(w for _, w in business.REGISTRATION_STATUS)
_CAPITALS = (10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)
_CAPITAL_WEIGHTS = (8, 6, 14, 22, 12, 9, 11, 9, 4, 3, 2)
_RURAL = ("110112", "110114", "110115")
_REFORM = date(2015, 10, 1)  # 三证合一: credit codes assigned at registration from here on


def _established(rng: random.Random, rep: Person) -> date:
    earliest = max(date(1995, 1, 1), rep.birth.replace(year=rep.birth.year + 20, day=1))
    year = max(earliest.year, 2024 - int(abs(rng.gauss(0, 7))))
    day = date(year, 1, 1) + timedelta(days=rng.randint(0, 364))
    return min(max(day, earliest), AS_OF - timedelta(days=45))


def _org_code(rng: random.Random, established: date) -> str:
    if established >= _REFORM:
        return "MA0" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(5))
    return f"{rng.randrange(10**8):08d}"


def _phone(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.12:
        return names.mobile(rng)
    return f"010-{rng.choice('5678')}{rng.randrange(10**7):07d}"


def _anchor_firms(people: list[Person]) -> list[Enterprise]:
    it = {i.code: i for i in business.INDUSTRIES}
    d = places.DISTRICT_BY_CODE
    return [
        Enterprise(
            _ANCHOR_USCC,
            SAMPLES["enterprise_name"],
            "有限责任公司（自然人投资或控股）",
            people[0],
            500.0,
            date(2017, 3, 21),
            d["110108"],
            "北京市海淀区中关村大街27号11层1101室",
            it["I"],
            "存续",
            "010-62681234",
            _STAMP,
        ),
        Enterprise(
            _ANCHOR2_USCC,
            SAMPLES["case_enterprise_name"],
            "有限责任公司（自然人投资或控股）",
            people[1],
            100.0,
            date(2016, 8, 8),
            d["110105"],
            "北京市朝阳区工人体育场北路8号3层02室",
            it["H"],
            "存续",
            "010-65012345",
            _STAMP,
        ),
    ]


def make_enterprises(rng: random.Random, count: int, people: list[Person]) -> list[Enterprise]:
    firms = _anchor_firms(people)
    codes = {f.uscc for f in firms}
    names_used = {f.name for f in firms}
    reps = [p for p in people if 25 <= p.age() <= 75]
    while len(firms) < count:
        kind = rng.choices(business.ENTERPRISE_TYPES, weights=_KIND_WEIGHTS)[0][0]
        rep = rng.choice(reps)
        if kind == "农民专业合作社":
            industry, district = business.COOPERATIVE, places.DISTRICT_BY_CODE[rng.choice(_RURAL)]
        else:
            industry = rng.choices(business.INDUSTRIES, weights=[i.weight for i in business.INDUSTRIES])[0]
            district = places.district(rng)
        trade = rng.choice(business.TRADE_CHARS) + rng.choice(business.TRADE_CHARS)
        if kind == "个体工商户":
            name, entity_type, capital = (
                f"{places.CITY}{district.name}{trade}{rng.choice(business.SHOP_KINDS)}",
                "2",
                None,
            )
        elif kind == "农民专业合作社":
            name = f"{places.CITY}{district.name[:-1]}{trade}{rng.choice(industry.name_parts)}专业合作社"
            entity_type, capital = "3", float(rng.choice((20, 50, 100, 200, 500)))
        else:
            form = "股份有限公司" if kind.startswith("股份") else "有限公司"
            name = f"北京{trade}{rng.choice(industry.name_parts)}{form}"
            entity_type = "1"
            capital = float(rng.choices(_CAPITALS, weights=_CAPITAL_WEIGHTS)[0])
        if name in names_used:
            continue
        established = _established(rng, rep)
        uscc = generate_uscc(
            rng, district.code, entity_type=entity_type, org_code=_org_code(rng, established)
        )
        if uscc in codes:
            continue
        names_used.add(name)
        codes.add(uscc)
        status = rng.choices(business.REGISTRATION_STATUS, weights=_STATUS_WEIGHTS)[0][0]
        firms.append(
            Enterprise(
                uscc,
                name,
                kind,
                rep,
                capital,
                established,
                district,
                places.business_address(rng, district),
                industry,
                status,
                _phone(rng),
                _stamp(rng, established),
            )
        )
    for firm in firms:
        _licence(rng, firm)
    return firms


def _licence(rng: random.Random, firm: Enterprise) -> None:
    firm.licence_no = f"{firm.district.code}{firm.established.year}{rng.randrange(10**8):08d}"
    if firm.established >= _REFORM:
        firm.licence_issued = firm.established
    else:
        firm.licence_issued = _REFORM + timedelta(days=rng.randint(0, 800))
    if firm.kind not in ("个体工商户",) and rng.random() < 0.3:
        firm.licence_until = firm.established.replace(
            year=firm.established.year + rng.choice((20, 30)), day=1
        )


LICENCE_STATUS = {"存续": "有效", "注销": "注销", "吊销": "吊销", "迁出": "迁出"}

# -- cases ---------------------------------------------------------------------------------------------

_SOURCE_WEIGHTS = tuple(w for _, w in business.CASE_SOURCES)
_REVOKE_REASON = "成立后无正当理由超过六个月未开业或者开业后自行停业连续六个月以上"


def make_cases(rng: random.Random, firms: list[Enterprise]) -> list[Case]:
    serial: dict[tuple[str, int], int] = {("110105", 2024): 1}
    anchor = firms[1]
    cases = [
        Case(
            _ANCHOR_CASE,
            anchor,
            "投诉举报",
            date(2024, 3, 12),
            "销售过期食品",
            "罚款",
            20000.0,
            date(2024, 4, 20),
            "张建国、王磊",
        )
    ]
    for firm in firms[2:]:
        start = max(firm.established + timedelta(days=30), date(2019, 1, 1))
        if start >= AS_OF:
            continue
        n = rng.choices((0, 1, 2, 3), weights=(55, 30, 10, 5))[0]
        revoked = firm.status == "吊销"
        for k in range(n + (1 if revoked else 0)):
            checked = start + timedelta(days=rng.randint(0, (AS_OF - start).days))
            key = (firm.district.code, checked.year)
            serial[key] = serial.get(key, 0) + 1
            case_id = f"JC{firm.district.code}{checked.year}{serial[key]:05d}"
            source = rng.choices(business.CASE_SOURCES, weights=_SOURCE_WEIGHTS)[0][0]
            officers = f"{names.full_name(rng, 'M')}、{names.full_name(rng, rng.choice('MF'))}"
            if revoked and k == n:
                violation, outcome, fine = _REVOKE_REASON, "吊销营业执照", None
            elif rng.random() < 0.6:
                violation, outcome, fine = None, business.NO_PROBLEM, None
            else:
                violation, outcome, lo, hi = rng.choice(business.VIOLATIONS)
                fine = float(round(rng.uniform(lo, hi), -2)) if hi else None
            closed: date | None = checked + timedelta(days=0 if violation is None else rng.randint(10, 90))
            if violation is not None and (AS_OF - checked).days < 60 and rng.random() < 0.5:
                closed = None
            elif closed is not None and closed > AS_OF:
                closed = AS_OF
            cases.append(Case(case_id, firm, source, checked, violation, outcome, fine, closed, officers))
    return cases


# -- employment ----------------------------------------------------------------------------------------


def assign_employment(rng: random.Random, people: list[Person], firms: list[Enterprise]) -> None:
    """Working-age people get an employer among active enterprises (刘䶮 works at his own)."""
    active = [f for f in firms if f.status == "存续"]
    # the running totals ``choices`` would sum from the weights on every call (~1,700 firms per person)
    cum_weights = list(accumulate((f.capital or 5.0) ** 0.5 for f in active))
    firms[0].employees.append(people[0])
    for person in people[1:]:
        if 18 <= person.age() <= 60 and rng.random() < 0.7:
            rng.choices(active, cum_weights=cum_weights)[0].employees.append(person)
