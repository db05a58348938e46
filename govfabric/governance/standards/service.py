"""The standards service: data elements, naming rules, column mappings and conformance checks.

``StandardsService(fabric)`` (the façade's ``fabric.standards``) is what the CLI, the
server and Python users call. The defaults in :mod:`.elements` are seeded on first use;
every write is audited in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govfabric.auth.audit import append
from govfabric.auth.principals import SYSTEM
from govfabric.auth.readpath import require_steward
from govfabric.errors import AlreadyExists, NotFound
from govfabric.governance.security.sample import DEFAULT_SAMPLE, asset_with_source, sample_columns
from govfabric.governance.standards.elements import (
    DEFAULT_ELEMENTS,
    DEFAULT_RULES,
    ElementSpec,
    check_element,
    check_rule,
    conforms,
    rule_violation,
    value_text,
)
from govfabric.governance.standards.models import ColumnMapping, ConformanceCheck, DataElement, NamingRule
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset
    from govfabric.fabric import Fabric

STEWARD = ("steward",)
MIN_SCORE = 0.5
_SPLIT = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Suggestion:
    column: str
    element: str | None
    confidence: float
    evidence: str


@dataclass(frozen=True)
class Violation:
    kind: str  # naming | value
    target: str  # table or column name
    rule: str  # naming rule name or element identifier
    message: str
    count: int = 1


@dataclass
class ConformanceReport:
    asset: str
    score: float  # 0–100
    checks: int
    violations: list[Violation] = field(default_factory=list)
    sampled: int = 0
    mappings: dict[str, str] = field(default_factory=dict)  # column → element (status in brackets)

    def as_dict(self) -> dict[str, Any]:
        return {"asset": self.asset, "score": self.score, "checks": self.checks, "sampled": self.sampled,
                "mappings": self.mappings, "violations": [asdict(v) for v in self.violations]}


def _tokens(name: str) -> tuple[str, list[str]]:
    low = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    toks = [t for t in _SPLIT.split(low) if t]
    return "_".join(toks), toks


def name_match(keywords: list[str], name: str, cn_name: str | None) -> str | None:
    """The keyword of an element that the column's name or Chinese name carries."""
    key, toks = _tokens(name)
    for kw in keywords:
        if kw.isascii():
            if kw == key or (toks and kw == toks[-1]):
                return kw
        elif kw in name or (cn_name and kw in cn_name):
            return kw
    return None


class StandardsService:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- seeding ----------------------------------------------------------------------------------

    def _seed(self, s: Session) -> None:
        have = set(s.scalars(select(DataElement.identifier).where(DataElement.builtin.is_(True))))
        rules = set(s.scalars(select(NamingRule.name).where(NamingRule.builtin.is_(True))))
        new_el = [e for e in DEFAULT_ELEMENTS if e.identifier not in have]
        new_rules = [r for r in DEFAULT_RULES if r.name not in rules]
        if not new_el and not new_rules:
            return
        taken = set(s.scalars(select(DataElement.identifier)))
        for e in new_el:
            if e.identifier not in taken:  # a steward's own element of that name wins
                s.add(DataElement(**self._element_fields(e), builtin=True, created_by=SYSTEM))
        taken_rules = set(s.scalars(select(NamingRule.name)))
        for r in new_rules:
            if r.name not in taken_rules:
                s.add(NamingRule(name=r.name, applies_to=r.applies_to, kind=r.kind, pattern=r.pattern,
                                 words=list(r.words), max_length=r.max_length, description=r.description,
                                 builtin=True, created_by=SYSTEM))
        s.flush()
        append(s, SYSTEM, "standards.seed", "standards", {"elements": [e.identifier for e in new_el],
                                                          "rules": [r.name for r in new_rules]})

    @staticmethod
    def _element_fields(e: ElementSpec) -> dict[str, Any]:
        return {"identifier": e.identifier, "name": e.name, "cn_name": e.cn_name, "definition": e.definition,
                "data_type": e.data_type, "format": e.format, "code_list": dict(e.code_list),
                "validator": e.validator, "keywords": list(e.keywords), "standard": e.standard}

    # -- elements ---------------------------------------------------------------------------------

    def elements(self) -> list[DataElement]:
        with self.store.session() as s:
            self._seed(s)
            return list(s.scalars(select(DataElement).order_by(DataElement.identifier)))

    def element(self, identifier: str) -> DataElement:
        with self.store.session() as s:
            return self._element(s, identifier)

    def _element(self, s: Session, identifier: str) -> DataElement:
        self._seed(s)
        el = s.scalar(select(DataElement).where(DataElement.identifier == identifier))
        if el is None:
            known = ", ".join(s.scalars(select(DataElement.identifier).order_by(DataElement.identifier)))
            raise NotFound(f"no data element {identifier!r}; known: {known}")
        return el

    def add_element(self, identifier: str, *, name: str, cn_name: str, data_type: str, definition: str = "",
                    format: str | None = None, code_list: dict[str, str] | None = None,
                    validator: str | None = None, keywords: list[str] | None = None,
                    standard: str | None = None, replace: bool = False) -> DataElement:
        actor = self.fabric.actor
        actor.require(*STEWARD, action="define data elements")
        spec = check_element(ElementSpec(identifier, name, cn_name, definition, data_type, format or None,
                                         dict(code_list or {}), validator or None, tuple(keywords or ()),
                                         standard))
        with self.store.session() as s:
            self._seed(s)
            el = s.scalar(select(DataElement).where(DataElement.identifier == identifier))
            if el is not None and not replace:
                raise AlreadyExists(f"data element {identifier} exists; use --replace to redefine it")
            if el is None:
                el = DataElement(created_by=actor.name)
                s.add(el)
            for k, v in self._element_fields(spec).items():
                setattr(el, k, v)
            el.builtin = False
            s.flush()
            append(s, actor.name, "standards.element", f"element:{identifier}",
                   {"replace": replace, **self._element_fields(spec)})
            return el

    # -- naming rules -----------------------------------------------------------------------------

    def rules(self, applies_to: str | None = None) -> list[NamingRule]:
        with self.store.session() as s:
            self._seed(s)
            q = select(NamingRule).order_by(NamingRule.applies_to, NamingRule.name)
            if applies_to:
                q = q.where(NamingRule.applies_to == applies_to)
            return list(s.scalars(q))

    def add_rule(self, name: str, applies_to: str, kind: str, *, pattern: str | None = None,
                 words: list[str] | None = None, max_length: int | None = None, description: str = "",
                 enabled: bool = True, replace: bool = False) -> NamingRule:
        actor = self.fabric.actor
        actor.require(*STEWARD, action="define naming rules")
        check_rule(name, applies_to, kind, pattern, words, max_length)
        with self.store.session() as s:
            self._seed(s)
            r = s.scalar(select(NamingRule).where(NamingRule.name == name))
            if r is not None and not replace:
                raise AlreadyExists(f"naming rule {name} exists; use --replace to change it")
            if r is None:
                r = NamingRule(name=name, created_by=actor.name)
                s.add(r)
            r.applies_to, r.kind, r.pattern, r.words, r.max_length = applies_to, kind, pattern, list(words or []), \
                max_length
            r.description, r.enabled, r.builtin = description, enabled, False
            s.flush()
            append(s, actor.name, "standards.rule", f"rule:{name}",
                   {"applies_to": applies_to, "kind": kind, "pattern": pattern, "words": words,
                    "max_length": max_length, "enabled": enabled, "replace": replace})
            return r

    # -- mappings ---------------------------------------------------------------------------------

    def suggest(self, ref: str, *, sample: int = DEFAULT_SAMPLE, save: bool = True) -> list[Suggestion]:
        """Suggest a data element per column from its names and sampled values; saved as ``suggested``
        (a steward's confirmed mapping is never replaced)."""
        actor = self.fabric.actor
        # sampling reads raw values, even without saving: the owning steward (security.sample checks)
        actor.require(*STEWARD, action="sample assets for element suggestions")
        if save:
            actor.require(*STEWARD, action="record element suggestions")
        asset, src = asset_with_source(self.fabric, ref)
        values = sample_columns(self.fabric, asset, src, limit=sample) if src is not None else {}
        elements = self.elements()
        out = [self._suggest_column(c.name, c.cn_name, values.get(c.name, []), elements) for c in asset.columns]
        if save:
            with self.store.session() as s:
                existing = {m.column_name: m for m in s.scalars(
                    select(ColumnMapping).where(ColumnMapping.asset_id == asset.id))}
                for sg in out:
                    m = existing.get(sg.column)
                    if m is not None and m.status == "confirmed":
                        continue
                    if sg.element is None:
                        if m is not None:
                            s.delete(m)
                        continue
                    if m is None:
                        m = ColumnMapping(asset_id=asset.id, column_name=sg.column, mapped_by=actor.name)
                        s.add(m)
                    m.asset_name, m.element, m.status = asset.qualified_name, sg.element, "suggested"
                    m.confidence, m.evidence, m.mapped_by, m.mapped_at = sg.confidence, sg.evidence, actor.name, \
                        utcnow()
                s.flush()
                append(s, actor.name, "standards.suggest", f"asset:{asset.qualified_name}",
                       {"sample": sample, "suggested": {sg.column: sg.element for sg in out if sg.element}})
        return out

    @staticmethod
    def _suggest_column(name: str, cn_name: str | None, values: list[Any],
                        elements: list[DataElement]) -> Suggestion:
        texts = [v for v in values if value_text(v) is not None]
        best: tuple[float, str, str] | None = None
        for el in elements:
            kw = name_match(list(el.keywords or []), name, cn_name)
            frac = sum(1 for v in texts if conforms(el, v)) / len(texts) if texts else None
            strong = bool(el.validator) or el.data_type == "date"
            if frac is None:
                score = 0.55 if kw else 0.0
                why = f"name matches {kw!r}; no values sampled" if kw else ""
            elif kw:
                score = 0.3 + 0.7 * frac
                why = f"name matches {kw!r}; {frac:.0%} of {len(texts)} sampled values conform"
            elif strong and frac >= 0.9:
                score = 0.8 * frac
                why = f"{frac:.0%} of {len(texts)} sampled values conform"
            else:
                continue
            if score >= MIN_SCORE and (best is None or score > best[0]):
                best = (score, el.identifier, why)
        if best is None:
            return Suggestion(name, None, 0.0, "no data element fits")
        return Suggestion(name, best[1], round(best[0], 3), best[2])

    def map(self, ref: str, element: str, *, column: str | None = None) -> ColumnMapping:
        """A steward maps ``ASSET.COLUMN`` (or ``ref`` + ``column``) to a data element (confirmed)."""
        from govfabric.governance.security.service import split_column_ref

        actor = self.fabric.actor
        actor.require(*STEWARD, action="map columns to data elements")
        asset_ref, col = (ref, column) if column else split_column_ref(ref)
        with self.store.session() as s:
            el = self._element(s, element)
            a = self.fabric.catalog.resolve(s, asset_ref)
            a.require_columns([col], NotFound)
            m = s.scalar(select(ColumnMapping).where(ColumnMapping.asset_id == a.id,
                                                     ColumnMapping.column_name == col))
            before = (m.element, m.status) if m else None
            if m is None:
                m = ColumnMapping(asset_id=a.id, column_name=col, mapped_by=actor.name)
                s.add(m)
            m.asset_name, m.element, m.status, m.confidence = a.qualified_name, el.identifier, "confirmed", 1.0
            m.evidence, m.mapped_by, m.mapped_at = f"confirmed by {actor.name}", actor.name, utcnow()
            s.flush()
            append(s, actor.name, "standards.map", f"column:{a.qualified_name}.{col}",
                   {"element": el.identifier, "before": before})
            return m

    def mappings(self, ref: str | None = None) -> list[ColumnMapping]:
        with self.store.session() as s:
            q = select(ColumnMapping).order_by(ColumnMapping.asset_name, ColumnMapping.column_name)
            if ref:
                q = q.where(ColumnMapping.asset_id == self.fabric.catalog.resolve(s, ref).id)
            return list(s.scalars(q))

    # -- conformance ------------------------------------------------------------------------------

    def check(self, ref: str, *, sample: int = DEFAULT_SAMPLE) -> ConformanceReport:
        """Naming rules over the table and column names, and each mapped column's sampled values
        against its element; score = passed share of all checks, in percent. Kept as history."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="check assets against data standards")
        asset, src = asset_with_source(self.fabric, ref)
        # the report quotes sampled values: the owning department's steward
        require_steward(actor, asset.owner_department, f"check {asset.qualified_name}")
        maps = {m.column_name: (m.element, m.status) for m in self.mappings(asset.id)}
        if not maps:  # nothing recorded yet: use suggestions, without saving them
            maps = {sg.column: (sg.element, "suggested") for sg in self.suggest(asset.id, sample=sample, save=False)
                    if sg.element}
        names = {c.name for c in asset.columns}
        maps = {c: v for c, v in maps.items() if c in names}
        values = sample_columns(self.fabric, asset, src, list(maps), limit=sample) if src and maps else {}
        report = self._evaluate(asset, maps, values)
        with self.store.session() as s:
            s.add(ConformanceCheck(asset_id=asset.id, asset_name=asset.qualified_name, score=report.score,
                                   checks=report.checks, violations=[asdict(v) for v in report.violations],
                                   sampled=report.sampled, checked_by=actor.name))
            append(s, actor.name, "standards.check", f"asset:{asset.qualified_name}",
                   {"score": report.score, "checks": report.checks, "violations": len(report.violations)})
        return report

    def _evaluate(self, asset: Asset, maps: dict[str, tuple[str, str]], values: dict[str, list[Any]]
                  ) -> ConformanceReport:
        rules = [r for r in self.rules() if r.enabled]
        elements = {e.identifier: e for e in self.elements()}
        table = str((asset.location or {}).get("table") or asset.name)
        violations: list[Violation] = []
        checks, passed = 0, 0.0
        for r in rules:
            targets = [table] if r.applies_to == "table" else [c.name for c in asset.columns]
            for t in targets:
                checks += 1
                why = rule_violation(r, t)
                if why is None:
                    passed += 1
                else:
                    violations.append(Violation("naming", t, r.name, f"{why} ({r.description})"))
        sampled = 0
        for col, (ident, _status) in sorted(maps.items()):
            el = elements.get(ident)
            if el is None:
                continue
            judged = [(v, conforms(el, v)) for v in values.get(col, [])]
            judged = [(v, ok) for v, ok in judged if ok is not None]
            sampled = max(sampled, len(values.get(col, [])))
            checks += 1
            if not judged:
                passed += 1
                continue
            bad = [value_text(v) for v, ok in judged if not ok]
            passed += 1 - len(bad) / len(judged)
            if bad:
                examples = ", ".join(sorted({b for b in bad if b})[:3])
                violations.append(Violation("value", col, ident, f"{len(bad)}/{len(judged)} sampled values do not "
                                            f"conform to {el.cn_name} ({ident}); e.g. {examples}", len(bad)))
        score = round(100 * passed / checks, 1) if checks else 100.0
        return ConformanceReport(asset.qualified_name, score, checks, violations, sampled,
                                 {c: f"{e} ({st})" for c, (e, st) in sorted(maps.items())})

    def history(self, ref: str) -> list[ConformanceCheck]:
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, ref)
            return list(s.scalars(select(ConformanceCheck).where(ConformanceCheck.asset_id == a.id)
                                  .order_by(ConformanceCheck.checked_at)))
