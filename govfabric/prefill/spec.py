"""Service item (事项) specs: the form (§9.4.5.4), the materials (§9.4.5.5), eligibility rules
(§9.4.6.3b) and scenarios (§9.4.6.3c), read from YAML (or JSON) and checked as a whole.

:func:`check_structure` lists every problem of the document itself; the service adds those only
the catalog can tell (unknown tables and columns, type mismatches). A spec is written only when
the list is empty."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from govfabric.errors import ValidationFailed

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
COMPONENTS = ("title", "text", "number", "date", "radio", "checkbox", "image")
CHANNELS = ("government", "applicant", "other")  # issued by a department / prepared by the applicant / other issuer
MATERIAL_TYPES = ("original", "copy", "self_made")
MATERIAL_FORMS = ("electronic", "paper")
APPLICANTS = ("any", "person", "enterprise")
DISPLAY_MASKS = ("none", "full", "name", "id_number", "phone", "address", "partial")
#: column kinds each component may show (a component absent here takes no source)
COMPONENT_KINDS: dict[str, tuple[str, ...]] = {
    "text": ("text", "int", "number", "date", "timestamp", "bool"),
    "number": ("int", "number"),
    "date": ("date", "timestamp"),
    "radio": ("text", "int", "bool"),
    "checkbox": ("text", "bool", "int"),
    "image": ("text", "blob"),
}
RULE_RE = re.compile(r"^\s*([a-z][a-z0-9_]{0,63})\s*(==|!=|>=|<=|>|<|not in|in)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Source:
    """Where a shared field comes from: ``column`` of virtual table or view ``table``, on the row
    whose ``key`` column equals the applicant's identifier — or another field's value (``key_field``,
    e.g. the legal representative's ID number read from the enterprise's row)."""

    table: str
    column: str
    key: str
    key_field: str | None = None


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    component: str
    required: bool = False
    shared: bool = False
    department: str | None = None
    source: Source | None = None
    editable: bool = True
    mask: str = "none"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Material:
    name: str
    label: str
    channel: str
    shared: bool = False
    department: str | None = None
    type: str = "original"
    form: str = "electronic"
    copies: int = 0
    deferrable_days: int | None = None  # 容缺: may be handed in within this many days
    licence_type: str | None = None  # government-issued: the licence type code to attach


@dataclass(frozen=True)
class Rule:
    """``field op literal``, e.g. ``status == '存续'``; the reason is shown when it does not hold."""

    text: str
    field: str
    op: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    materials: tuple[str, ...]
    when: Rule | None = None


@dataclass(frozen=True)
class ItemSpec:
    name: str
    title: str
    purpose: str
    principal: str
    applicant: str = "any"
    department: str | None = None
    fields: tuple[FormField, ...] = ()
    materials: tuple[Material, ...] = ()
    eligibility: tuple[Rule, ...] = ()
    scenarios: tuple[Scenario, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def consent_scope(self) -> list[str]:
        """What the applicant must authorise: every shared field and every licence type attached."""
        return sorted({f"field:{f.name}" for f in self.fields if f.shared and f.source}
                      | {f"licence:{m.licence_type}" for m in self.materials if m.licence_type})


def load_document(path: str | Path) -> dict[str, Any]:
    """A spec file: YAML (``.yaml``/``.yml``, PyYAML's safe loader) or JSON."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed(f"no spec file {p}; give the path of an item spec (.yaml or .json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"cannot read {p}: {exc}; save the spec as UTF-8 text") from None
    if len(text) > 1_000_000:
        raise ValidationFailed(f"{p} is larger than 1 MB; an item spec is a small document")
    try:
        if p.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: both say where
        raise ValidationFailed(f"{p} is not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: "
                               f"{str(exc).splitlines()[0]}; fix the syntax") from None
    if not isinstance(doc, dict):
        raise ValidationFailed(f"{p} must hold a mapping (name, title, purpose, principal, fields, materials)")
    return doc


def _jsonable(doc: Any) -> Any:
    """YAML may hold dates; the stored spec is JSON."""
    if isinstance(doc, dict):
        return {str(k): _jsonable(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_jsonable(v) for v in doc]
    if isinstance(doc, date | datetime):
        return doc.isoformat()
    return doc


class _Reader:
    """Reads one mapping, collecting problems instead of stopping at the first."""

    def __init__(self, problems: list[str], where: str, data: Any) -> None:
        self.problems, self.where = problems, where
        if not isinstance(data, dict):
            problems.append(f"{where}: must be a mapping")
            data = {}
        self.data = data

    def text(self, key: str, *, required: bool = False, default: str | None = None, limit: int = 256,
             choices: tuple[str, ...] | None = None) -> str | None:
        v = self.data.get(key, default)
        if v is None:
            if required:
                self.problems.append(f"{self.where}: {key} is required")
            return None
        if not isinstance(v, str) or not v.strip() or len(v) > limit:
            self.problems.append(f"{self.where}: {key} must be text of 1–{limit} characters")
            return None
        if choices is not None and v not in choices:
            self.problems.append(f"{self.where}: {key} {v!r} is not one of {', '.join(choices)}")
            return None
        return v.strip()

    def flag(self, key: str, default: bool) -> bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            self.problems.append(f"{self.where}: {key} must be true or false")
            return default
        return v

    def integer(self, key: str, default: int | None, lo: int, hi: int) -> int | None:
        v = self.data.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.problems.append(f"{self.where}: {key} must be a whole number from {lo} to {hi}")
            return default
        return v

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            self.problems.append(f"{self.where}: unknown key(s) {', '.join(map(str, extra))}")


def parse_rule(text: Any, where: str, problems: list[str], reason: str | None = None) -> Rule | None:
    if not isinstance(text, str):
        problems.append(f"{where}: a rule is text like \"status == '存续'\"")
        return None
    m = RULE_RE.match(text)
    if not m:
        problems.append(f"{where}: rule {text!r} must be `field op value` (op: == != > >= < <= in, not in)")
        return None
    name, op, raw = m.groups()
    try:
        import yaml

        value = yaml.safe_load(raw)
    except Exception:
        value = None
        problems.append(f"{where}: the value of rule {text!r} is not a literal ('text', 12, [a, b])")
    if op in ("in", "not in") and not isinstance(value, list):
        problems.append(f"{where}: rule {text!r}: `{op}` takes a list, e.g. ['存续', '在业']")
    return Rule(text, name, op, _jsonable(value), reason or f"{text} does not hold")


def check_structure(doc: dict[str, Any]) -> tuple[ItemSpec | None, list[str]]:
    """The spec (as far as it could be read) and every problem of the document itself (not yet the
    catalog's). The spec is usable only when the list is empty."""
    problems: list[str] = []
    top = _Reader(problems, "item", doc)
    top.unknown({"name", "title", "purpose", "principal", "applicant", "department", "fields", "materials",
                 "eligibility", "scenarios", "description"})
    name = top.text("name", required=True, limit=64)
    if name is not None and not NAME_RE.match(name):
        problems.append(f"item: name {name!r} must be lowercase letters, digits and _, starting with a letter")
    title = top.text("title", required=True)
    purpose = top.text("purpose", default=title, limit=128)
    principal = top.text("principal", required=True, limit=128)
    applicant = top.text("applicant", default="any", choices=APPLICANTS) or "any"
    department = top.text("department")
    fields = _fields(doc.get("fields"), problems)
    materials = _materials(doc.get("materials"), problems)
    names = {f.name for f in fields}
    for f in fields:
        if f.source and f.source.key_field:
            ref = next((g for g in fields if g.name == f.source.key_field), None)
            if ref is None:
                problems.append(f"field {f.name}: key_field {f.source.key_field} is no field of this item")
            elif ref.source is None or ref.source.key_field:
                problems.append(f"field {f.name}: key_field {ref.name} must itself be read by the applicant's "
                                "identifier (one level of indirection)")
    rules = []
    for i, r in enumerate(_list(doc.get("eligibility"), "eligibility", problems)):
        rd = _Reader(problems, f"eligibility[{i}]", r if isinstance(r, dict) else {"rule": r})
        rd.unknown({"rule", "reason"})
        rule = parse_rule(rd.data.get("rule"), f"eligibility[{i}]", problems, rd.text("reason"))
        if rule is not None and rule.field not in names:
            problems.append(f"eligibility[{i}]: rule {rule.text!r} names no field of this item")
        if rule is not None:
            rules.append(rule)
    scenarios = []
    mnames = {m.name for m in materials}
    for i, sc in enumerate(_list(doc.get("scenarios"), "scenarios", problems)):
        rd = _Reader(problems, f"scenarios[{i}]", sc)
        rd.unknown({"name", "label", "materials", "when"})
        sname = rd.text("name", required=True, limit=64)
        chosen = rd.data.get("materials", [])
        if not isinstance(chosen, list) or not all(isinstance(m, str) for m in chosen):
            problems.append(f"scenarios[{i}]: materials must be a list of material names")
            chosen = []
        for m in chosen:
            if m not in mnames:
                problems.append(f"scenarios[{i}]: material {m} is not listed under materials")
        when = None
        if rd.data.get("when") is not None:
            when = parse_rule(rd.data["when"], f"scenarios[{i}]", problems)
            if when is not None and when.field not in names:
                problems.append(f"scenarios[{i}]: rule {when.text!r} names no field of this item")
        if sname:
            scenarios.append(Scenario(sname, rd.text("label") or sname, tuple(chosen), when))
    for what, seq in (("field", [f.name for f in fields]), ("material", [m.name for m in materials]),
                      ("scenario", [s.name for s in scenarios])):
        dup = sorted({n for n in seq if seq.count(n) > 1})
        if dup:
            problems.append(f"{what} name(s) used twice: {', '.join(dup)}")
    if name is None or title is None or principal is None:
        return None, problems
    return ItemSpec(name, title, purpose or title, principal, applicant, department, tuple(fields),
                    tuple(materials), tuple(rules), tuple(scenarios), raw=_jsonable(doc)), problems


def _list(value: Any, where: str, problems: list[str]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list")
        return []
    return value


def _fields(value: Any, problems: list[str]) -> list[FormField]:
    out = []
    for i, item in enumerate(_list(value, "fields", problems)):
        where = f"fields[{i}]" + (f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else "")
        rd = _Reader(problems, where, item)
        rd.unknown({"name", "label", "component", "required", "shared", "department", "source", "editable",
                    "mask", "options"})
        name = rd.text("name", required=True, limit=64)
        if name is not None and not NAME_RE.match(name):
            problems.append(f"{where}: name must be lowercase letters, digits and _")
        component = rd.text("component", required=True, choices=COMPONENTS)
        shared = rd.flag("shared", False)
        source = None
        if rd.data.get("source") is not None:
            sr = _Reader(problems, f"{where}.source", rd.data["source"])
            sr.unknown({"table", "view", "column", "key", "key_field"})
            if "table" in sr.data and "view" in sr.data:
                problems.append(f"{where}.source: give table or view, not both")
            table = sr.text("view" if "view" in sr.data else "table", required=True)
            column, key = sr.text("column", required=True), sr.text("key", required=True)
            if table and column and key:
                source = Source(table.lower(), column.lower(), key.lower(), sr.text("key_field", limit=64))
        if component == "title" and (shared or source):
            problems.append(f"{where}: a title has no value to share; drop shared/source")
        elif shared and source is None:
            problems.append(f"{where}: shared field has no source; give source: {{table, column, key}}")
        elif not shared and source is not None:
            problems.append(f"{where}: has a source but shared is false; set shared: true or drop the source")
        options = rd.data.get("options", [])
        if not isinstance(options, list) or not all(isinstance(o, str | int) for o in options):
            problems.append(f"{where}: options must be a list of values")
            options = []
        if component in ("radio", "checkbox") and not options:
            problems.append(f"{where}: a {component} needs options")
        if name and component:
            out.append(FormField(name, rd.text("label") or name, component, rd.flag("required", False), shared,
                                 rd.text("department"), source, rd.flag("editable", True),
                                 rd.text("mask", default="none", choices=DISPLAY_MASKS) or "none",
                                 tuple(str(o) for o in options)))
    return out


def _materials(value: Any, problems: list[str]) -> list[Material]:
    out = []
    for i, item in enumerate(_list(value, "materials", problems)):
        where = f"materials[{i}]" + (f" ({item.get('name')})" if isinstance(item, dict) and item.get("name") else "")
        rd = _Reader(problems, where, item)
        rd.unknown({"name", "label", "channel", "shared", "department", "type", "form", "copies", "deferrable_days",
                    "licence_type"})
        name = rd.text("name", required=True, limit=64)
        if name is not None and not NAME_RE.match(name):
            problems.append(f"{where}: name must be lowercase letters, digits and _")
        channel = rd.text("channel", required=True, choices=CHANNELS)
        form = rd.text("form", default="electronic", choices=MATERIAL_FORMS) or "electronic"
        copies = rd.integer("copies", 0, 0, 99) or 0
        licence = rd.text("licence_type", limit=64)
        shared = rd.flag("shared", channel == "government")
        if channel == "government" and shared and not licence:
            problems.append(f"{where}: a shared government-issued material names the licence_type to attach")
        if licence and channel != "government":
            problems.append(f"{where}: licence_type applies to government-issued materials only")
        if form == "paper" and copies < 1:
            problems.append(f"{where}: a paper material needs copies ≥ 1")
        if name and channel:
            out.append(Material(name, rd.text("label") or name, channel, shared, rd.text("department"),
                                rd.text("type", default="original", choices=MATERIAL_TYPES) or "original", form,
                                copies, rd.integer("deferrable_days", None, 1, 365), licence))
    return out


def spec_from_stored(doc: dict[str, Any]) -> ItemSpec:
    spec, problems = check_structure(doc)
    if spec is None or problems:  # stored specs were checked when written
        raise ValidationFailed("the stored item spec is not valid", problems)
    return spec


def evaluate(rule: Rule, values: dict[str, Any]) -> bool | None:
    """Whether ``rule`` holds on the filled ``values``; None when its field has no value."""
    v = values.get(rule.field)
    if v is None:
        return None
    want = rule.value
    if isinstance(v, date | datetime):
        v = v.isoformat()
    try:
        if rule.op == "==":
            return str(v) == str(want) if isinstance(want, str) else v == want
        if rule.op == "!=":
            return str(v) != str(want) if isinstance(want, str) else v != want
        if rule.op == "in":
            return str(v) in [str(w) for w in want]
        if rule.op == "not in":
            return str(v) not in [str(w) for w in want]
        return {">": v > want, ">=": v >= want, "<": v < want, "<=": v <= want}[rule.op]
    except TypeError:
        return False


def display(value: Any, mask: str) -> Any:
    """The value as the form shows it (§9.4.5.4 masking requirement); the raw value stays editable."""
    if value is None or mask == "none":
        return value
    s = str(value)
    n = len(s)
    if mask == "full":
        return "*" * n
    if mask == "name":
        return s[:1] + "*" * (n - 1) if n > 1 else s
    if mask == "id_number":
        return s[:6] + "*" * max(n - 10, 0) + s[-4:] if n > 10 else "*" * n
    if mask == "phone":
        return s[:3] + "*" * max(n - 7, 0) + s[-4:] if n > 7 else "*" * n
    if mask == "address":
        return s[:6] + "*" * max(n - 6, 0)
    return s[:1] + "*" * max(n - 2, 0) + s[-1:] if n > 2 else "*" * n  # partial
