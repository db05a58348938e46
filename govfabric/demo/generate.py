"""``generate_demo``: one call builds every department's data for the demo workspace."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from govfabric.demo import model, writers
from govfabric.demo.model import AS_OF, SAMPLES
from govfabric.demo.postgres import write_to_postgres
from govfabric.demo.schema import COLUMN_LABELS, TABLE_LABELS, XML_FIELD_LABELS
from govfabric.errors import ValidationFailed

__all__ = [
    "AS_OF",
    "COLUMN_LABELS",
    "SAMPLES",
    "TABLE_LABELS",
    "XML_FIELD_LABELS",
    "DemoFiles",
    "DemoSystem",
    "generate_demo",
    "write_to_postgres",
]

PERSONS_PER_SCALE = 5000
ENTERPRISES_PER_SCALE = 2000


@dataclass(frozen=True)
class DemoSystem:
    """One department's system as the catalog should register it."""

    key: str
    kind: str  # "sqlite" | "csv" | "xlsx" | "xml"
    paths: tuple[Path, ...]
    title_zh: str
    title_en: str
    department_zh: str
    department_en: str
    level: str  # national | provincial | municipal | county
    domains: tuple[str, ...]
    themes: tuple[str, ...]
    description: str
    encoding: str = "utf-8"
    tables: tuple[str, ...] = ()  # tables (SQLite) or sheets (XLSX)


@dataclass(frozen=True)
class DemoFiles:
    root: Path
    market_regulation: Path
    public_security: Path
    social_security: tuple[Path, ...]
    tax: Path
    licences: Path
    systems: tuple[DemoSystem, ...]
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    scale: int = 1

    def system(self, key: str) -> DemoSystem:
        for s in self.systems:
            if s.key == key:
                return s
        raise KeyError(key)


def _systems(root: Path, social: tuple[Path, ...]) -> tuple[DemoSystem, ...]:
    return (
        DemoSystem(
            "market_regulation",
            "sqlite",
            (root / "market_regulation.sqlite",),
            "市场监管综合业务系统",
            "Market regulation business system",
            "北京市市场监督管理局",
            "Beijing Municipal Administration for Market Regulation",
            "municipal",
            ("legal_entity", "e_licence", "events", "social_credit"),
            ("e_licence_library", "case_archive_library", "credit_library"),
            "企业登记（统一社会信用代码、法定代表人）、营业执照与监督检查案件。",
            tables=("t_qy_jbxx", "t_yyzz", "t_jcaj"),
        ),
        DemoSystem(
            "public_security",
            "sqlite",
            (root / "public_security.sqlite",),
            "人口基础信息库",
            "Population register",
            "北京市公安局",
            "Beijing Municipal Public Security Bureau",
            "municipal",
            ("natural_person", "geospatial"),
            ("user_archive_library",),
            "户籍人口基本信息（公民身份号码、姓名、性别、出生日期、民族、住址、手机号码）与行政区划代码。",
            tables=("t_rk_jbxx", "t_dm_xzqh"),
        ),
        DemoSystem(
            "social_security",
            "csv",
            social,
            "社会保险缴费明细",
            "Social insurance contributions",
            "北京市人力资源和社会保障局",
            "Beijing Municipal Human Resources and Social Security Bureau",
            "municipal",
            ("natural_person", "legal_entity", "public_services"),
            ("user_archive_library",),
            "按月的社会保险缴费记录（公民身份号码 + 统一社会信用代码），GB18030 编码 CSV，半年一个文件。",
            encoding="gb18030",
        ),
        DemoSystem(
            "tax",
            "xlsx",
            (root / "files" / "tax" / "纳税信息.xlsx",),
            "纳税信息",
            "Tax payments and tax credit ratings",
            "国家税务总局北京市税务局",
            "Beijing Municipal Tax Service, State Taxation Administration",
            "municipal",
            ("legal_entity", "macro_economy", "social_credit"),
            ("credit_library",),
            "企业分税种实缴税款（工作表“纳税明细”）与纳税信用评价（工作表“纳税信用评价”）。",
            tables=(writers.TAX_PAYMENTS_SHEET, writers.TAX_CREDIT_SHEET),
        ),
        DemoSystem(
            "licences",
            "xml",
            (root / "files" / "licences" / "电子证照.xml",),
            "电子证照库",
            "E-licence library",
            "北京市政务服务管理局",
            "Beijing Municipal Government Service Administration",
            "municipal",
            ("e_licence", "natural_person", "legal_entity"),
            ("e_licence_library", "standard_material_library"),
            "各部门签发的电子证照目录（营业执照、食品经营许可证、机动车驾驶证、不动产权证书、社会保障卡）。",
        ),
    )


def generate_demo(target: Path, *, scale: int = 1, seed: int = 20211001) -> DemoFiles:
    """Write every demo system under ``target`` (created if missing; our files are overwritten).

    Deterministic for a given (seed, scale); scale 1 is 5,000 people and 2,000 enterprises.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValidationFailed(f"scale must be a whole number of at least 1, got {scale!r}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    people = model.make_people(rng, PERSONS_PER_SCALE * scale)
    firms = model.make_enterprises(rng, ENTERPRISES_PER_SCALE * scale, people)
    cases = model.make_cases(rng, firms)
    model.assign_employment(rng, people, firms)

    social_dir = target / "files" / "social_security"
    social = tuple(social_dir / name for name in writers.SOCIAL_SECURITY_FILES)
    systems = _systems(target, social)
    counts: dict[str, int] = {}
    counts.update(writers.write_market_regulation(systems[0].paths[0], firms, cases))
    counts.update(writers.write_public_security(systems[1].paths[0], people))
    counts.update(writers.write_social_security(social_dir, rng, firms))
    fined = {c.firm.uscc for c in cases if c.fine}
    counts.update(writers.write_tax(systems[3].paths[0], rng, firms, fined))
    counts.update(writers.write_licences(systems[4].paths[0], rng, people, firms))
    return DemoFiles(
        root=target,
        market_regulation=systems[0].paths[0],
        public_security=systems[1].paths[0],
        social_security=social,
        tax=systems[3].paths[0],
        licences=systems[4].paths[0],
        systems=systems,
        counts=counts,
        samples=dict(SAMPLES),
        seed=seed,
        scale=scale,
    )
