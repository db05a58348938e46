"""The default classification shipped with every workspace (§8.4.1.2, §8.4.3).

Values are stored as stable English keys; each has its Chinese label. Users may
type either: :func:`normalise` maps a label or key to the key, or says what is
allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from govfabric.errors import ValidationFailed


@dataclass(frozen=True)
class Term:
    key: str
    zh: str
    en: str


def _terms(*rows: tuple[str, str, str]) -> tuple[Term, ...]:
    return tuple(Term(*r) for r in rows)


LEVELS = _terms(
    ("national", "国家级", "national"), ("provincial", "省级", "provincial"),
    ("municipal", "市级", "municipal"), ("county", "县级", "county"),
)
# 8.4.3 base models: the data domains.
DATA_DOMAINS = _terms(
    ("natural_person", "自然人", "natural person"), ("legal_entity", "法人", "legal entity"),
    ("urban_assets", "城市部件", "urban assets"), ("urban_sensing", "城市感知", "urban sensing"),
    ("events", "事件", "events"), ("macro_economy", "宏观经济", "macro-economy"),
    ("public_services", "公共服务", "public services"), ("natural_resources", "自然资源", "natural resources"),
    ("geospatial", "地理空间", "geospatial"), ("e_licences", "电子证照", "e-licences"),
    ("social_credit", "社会信用", "social credit"),
)
# 8.4.3 thematic models: the thematic libraries.
THEMATIC_LIBRARIES = _terms(
    ("standard_items", "标准事项库", "standard item library"),
    ("standard_materials", "标准材料库", "standard material library"),
    ("e_licence_library", "电子证照库", "e-licence library"),
    ("case_archive", "办件库", "case archive library"),
    ("credit_library", "信用库", "credit library"),
    ("user_archive", "用户档案库", "user archive library"),
    ("laws_library", "法律法规库", "laws library"),
    ("qa_library", "问答库", "Q&A library"),
)
DATA_SERVICES = _terms(
    ("item_governance", "事项治理", "item governance"),
    ("case_optimisation", "办件优化", "case optimisation"),
    ("approval_assistance", "审批辅助", "approval assistance"),
)
SHARING_CLASSES = _terms(
    ("unconditional", "无条件共享", "shared unconditionally"),
    ("conditional", "有条件共享", "shared on conditions"),
    ("not_shared", "不予共享", "not shared"),
)
OPEN_CLASSES = _terms(
    ("open", "无条件开放", "open unconditionally"),
    ("conditional_open", "有条件开放", "open on conditions"),
    ("not_open", "不予开放", "not open"),
)
UPDATE_FREQUENCIES = _terms(
    ("realtime", "实时", "real time"), ("daily", "每日", "daily"), ("weekly", "每周", "weekly"),
    ("monthly", "每月", "monthly"), ("quarterly", "每季度", "quarterly"), ("yearly", "每年", "yearly"),
    ("irregular", "不定期", "irregular"),
)
BUSINESS_VALUES = _terms(("high", "高", "high"), ("medium", "中", "medium"), ("low", "低", "low"))
THEMES = _terms(
    ("market_regulation", "市场监管", "market regulation"), ("public_security", "公共安全", "public security"),
    ("social_security", "社会保障", "social security"), ("taxation", "税务", "taxation"),
    ("health", "卫生健康", "health"), ("education", "教育文化", "education"),
    ("transport", "交通运输", "transport"), ("civil_affairs", "民政", "civil affairs"),
    ("housing", "住房城乡建设", "housing"), ("environment", "生态环境", "environment"),
    ("government_services", "政务服务", "government services"), ("finance", "财政金融", "finance"),
)
ASSET_TYPES = _terms(
    ("table", "库表", "table"), ("view", "视图", "view"), ("file", "文件", "file"),
    ("sheet", "电子表格", "spreadsheet sheet"), ("api", "接口", "API"),
)

FACETS: dict[str, tuple[Term, ...]] = {
    "level": LEVELS, "data_domain": DATA_DOMAINS, "thematic_library": THEMATIC_LIBRARIES,
    "sharing_class": SHARING_CLASSES, "open_class": OPEN_CLASSES,
    "update_frequency": UPDATE_FREQUENCIES, "business_value": BUSINESS_VALUES, "theme": THEMES,
    "asset_type": ASSET_TYPES,
}


def normalise(facet: str, value: str | None) -> str | None:
    """Map a key or a Chinese/English label of ``facet`` to its key."""
    if value is None or str(value).strip() == "":
        return None
    v = str(value).strip()
    for t in FACETS[facet]:
        if v in (t.key, t.zh) or v.lower() == t.en.lower():
            return t.key
    allowed = ", ".join(f"{t.key} ({t.zh})" for t in FACETS[facet])
    raise ValidationFailed(f"{facet} {v!r} is not in the classification; use one of: {allowed}")


def label(facet: str, key: str | None) -> str:
    if not key:
        return ""
    for t in FACETS.get(facet, ()):
        if t.key == key:
            return f"{t.zh} {t.key}"
    return key
