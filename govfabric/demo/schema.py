"""Physical tables of the demo's database systems, with the Chinese names their
owners would give them.

Column names are pinyin abbreviations, as in real Chinese government systems
(``tyshxydm`` = 统一社会信用代码). SQLite has no comments, so the harvester takes
the Chinese names from :data:`TABLE_LABELS` / :data:`COLUMN_LABELS`; PostgreSQL
gets them as ``COMMENT ON`` (see :mod:`govfabric.demo.postgres`).
"""

from __future__ import annotations

from dataclasses import dataclass

# kind → (SQLite declared type, PostgreSQL type)
_TYPES = {
    "text": ("TEXT", "text"),
    "date": ("DATE", "date"),
    "timestamp": ("TIMESTAMP", "timestamp"),
    "money": ("REAL", "numeric(18,2)"),
    "wan": ("REAL", "numeric(18,4)"),
    "int": ("INTEGER", "integer"),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    label: str
    nullable: bool = True

    @property
    def sqlite_type(self) -> str:
        return _TYPES[self.kind][0]

    @property
    def pg_type(self) -> str:
        return _TYPES[self.kind][1]


@dataclass(frozen=True)
class TableSpec:
    name: str
    label: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> str:
        return self.columns[0].name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def sqlite_ddl(self) -> str:
        cols = ", ".join(
            f'"{c.name}" {c.sqlite_type}'
            + (" PRIMARY KEY" if c.name == self.primary_key else "")
            + ("" if c.nullable else " NOT NULL")
            for c in self.columns
        )
        return f'CREATE TABLE "{self.name}" ({cols})'

    def sqlite_select(self) -> str:
        cols = ", ".join(f'"{c}"' for c in self.column_names)
        # identifiers come from the constant specs in this module
        return f'SELECT {cols} FROM "{self.name}" ORDER BY "{self.primary_key}"'  # noqa: S608

    def sqlite_insert(self) -> str:
        # identifiers come from the constant specs in this module, values are bound as parameters
        return f'INSERT INTO "{self.name}" VALUES ({", ".join("?" for _ in self.columns)})'  # noqa: S608


def _c(name: str, kind: str, label: str, nullable: bool = True) -> Column:
    return Column(name, kind, label, nullable)


ENTERPRISES = TableSpec(
    "t_qy_jbxx",
    "企业基本信息",
    (
        _c("tyshxydm", "text", "统一社会信用代码", False),
        _c("qymc", "text", "企业名称", False),
        _c("qylx", "text", "企业类型", False),
        _c("fddbr", "text", "法定代表人", False),
        _c("fddbr_sfzh", "text", "法定代表人身份证号码", False),
        _c("zczb", "wan", "注册资本（万元）"),
        _c("clrq", "date", "成立日期", False),
        _c("xzqh", "text", "行政区划代码", False),
        _c("qx", "text", "所属区县", False),
        _c("zs", "text", "住所", False),
        _c("hydm", "text", "行业门类代码", False),
        _c("hy", "text", "所属行业", False),
        _c("jyfw", "text", "经营范围"),
        _c("djzt", "text", "登记状态", False),
        _c("djjg", "text", "登记机关", False),
        _c("lxdh", "text", "联系电话"),
        _c("gxsj", "timestamp", "更新时间", False),
    ),
)
BUSINESS_LICENCES = TableSpec(
    "t_yyzz",
    "企业营业执照信息",
    (
        _c("zzbh", "text", "证照编号", False),
        _c("tyshxydm", "text", "统一社会信用代码", False),
        _c("qymc", "text", "名称", False),
        _c("qylx", "text", "类型", False),
        _c("fddbr", "text", "法定代表人", False),
        _c("zczb", "wan", "注册资本（万元）"),
        _c("clrq", "date", "成立日期", False),
        _c("yyqx_z", "date", "营业期限至（空为长期）"),
        _c("zs", "text", "住所", False),
        _c("jyfw", "text", "经营范围"),
        _c("djjg", "text", "登记机关", False),
        _c("fzrq", "date", "发证日期", False),
        _c("zzzt", "text", "证照状态", False),
    ),
)
CASES = TableSpec(
    "t_jcaj",
    "监督检查与案件信息",
    (
        _c("ajbh", "text", "案件编号", False),
        _c("tyshxydm", "text", "统一社会信用代码", False),
        _c("qymc", "text", "当事人名称", False),
        _c("ajly", "text", "案件来源", False),
        _c("jcrq", "date", "检查日期", False),
        _c("wfxw", "text", "违法行为"),
        _c("cljg", "text", "处理结果", False),
        _c("fkje", "money", "罚款金额（元）"),
        _c("ajzt", "text", "案件状态", False),
        _c("jarq", "date", "结案日期"),
        _c("cbdw", "text", "承办单位", False),
        _c("zfry", "text", "执法人员", False),
    ),
)
PERSONS = TableSpec(
    "t_rk_jbxx",
    "人口基本信息",
    (
        _c("gmsfhm", "text", "公民身份号码", False),
        _c("xm", "text", "姓名", False),
        _c("xb", "text", "性别", False),
        _c("csrq", "date", "出生日期", False),
        _c("mz", "text", "民族", False),
        _c("hjd_xzqh", "text", "户籍地行政区划代码", False),
        _c("hjdz", "text", "户籍地址", False),
        _c("xzz", "text", "现住址", False),
        _c("sjhm", "text", "手机号码"),
        _c("gxsj", "timestamp", "更新时间", False),
    ),
)
DIVISIONS = TableSpec(
    "t_dm_xzqh",
    "行政区划代码表",
    (
        _c("dm", "text", "行政区划代码", False),
        _c("mc", "text", "名称", False),
        _c("sjdm", "text", "上级行政区划代码"),
    ),
)

MARKET_TABLES = (ENTERPRISES, BUSINESS_LICENCES, CASES)
POPULATION_TABLES = (PERSONS, DIVISIONS)
TABLES = {t.name: t for t in MARKET_TABLES + POPULATION_TABLES}
SYSTEM_TABLES = {"market_regulation": MARKET_TABLES, "public_security": POPULATION_TABLES}

TABLE_LABELS: dict[str, str] = {t.name: t.label for t in TABLES.values()}
COLUMN_LABELS: dict[str, dict[str, str]] = {
    t.name: {c.name: c.label for c in t.columns} for t in TABLES.values()
}

XML_FIELDS = (
    ("licence_id", "证照标识"),
    ("licence_type_code", "证照类型代码"),
    ("licence_type", "证照类型"),
    ("licence_no", "证照编号"),
    ("holder_name", "持证主体"),
    ("holder_id_type", "持证主体代码类型"),
    ("holder_id", "持证主体代码"),
    ("issuer", "颁发机构"),
    ("issuer_code", "颁发机构代码"),
    ("issue_date", "颁发日期"),
    ("valid_from", "有效期起始日期"),
    ("valid_to", "有效期截止日期"),
    ("status", "证照状态"),
)
XML_FIELD_LABELS: dict[str, str] = dict(XML_FIELDS)
"""Element name → Chinese name for the records of ``files/licences/电子证照.xml``."""
