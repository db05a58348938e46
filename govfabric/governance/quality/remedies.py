"""The four remedies of §8.4.4.3: completion, correction, duplicate warning, redundancy merge.

Each is explainable: every suggestion says where it came from. Data is read through the
same targets as quality runs (SQL on the asset's engine, parameters bound, identifiers quoted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlglot import exp

from govfabric.auth.readpath import reads_source_data
from govfabric.catalog.read import active_assets_with_columns, source_of
from govfabric.errors import ValidationFailed
from govfabric.governance.quality import sqlchecks
from govfabric.governance.quality.targets import open_target
from govfabric.identifiers import resident_id_candidates, uscc_candidates

if TYPE_CHECKING:
    from govfabric.catalog.models import Source
    from govfabric.fabric import Fabric


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _pairs(fabric: Fabric, *refs: str) -> list[tuple[Source, Any]]:
    out = []
    with fabric.store.session() as s:
        for r in refs:
            a = fabric.catalog.resolve(s, r)
            src = source_of(s, a)
            if src is None:
                raise ValidationFailed(f"{a.qualified_name} has no source")
            out.append((src, a))
        s.expunge_all()
    return out


def _columns(a: Any, cols: list[str]) -> None:
    a.require_columns(cols)


def _rows(target: Any, q: exp.Expression, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with target.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(q.sql(target.dialect)), params or {})]


@reads_source_data("quality.suggest.complete", via="steward",
                   target=lambda fabric, asset, *a, from_asset=None, **k: (fabric, [asset, from_asset]))
def completion(fabric: Fabric, asset: str, column: str, key: str, *, from_asset: str | None = None,
               from_column: str | None = None, from_key: str | None = None, group_by: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """Values to fill where ``column`` is null: from another asset joined on the key, or the most
    frequent value of ``column`` among rows sharing ``group_by``."""
    if (from_asset is None) == (group_by is None):
        raise ValidationFailed("give either from_asset (with from_column) or group_by")
    pairs = _pairs(fabric, asset, *([from_asset] if from_asset else []))
    _columns(pairs[0][1], [column, key, *([group_by] if group_by else [])])
    if from_asset:
        _columns(pairs[1][1], [from_column or column, from_key or key])
    target = open_target(fabric, pairs[0], pairs[1:])
    try:
        t = target.table(pairs[0][1].id)
        missing = exp.Is(this=_col(column), expression=exp.Null())
        if from_asset:
            o = target.table(pairs[1][1].id).as_("o", quoted=True)
            q = (exp.select(exp.column(key, "t", quoted=True), exp.column(from_column or column, "o", quoted=True))
                 .from_(t.as_("t", quoted=True))
                 .join(o, on=exp.EQ(this=exp.column(key, "t", quoted=True),
                                    expression=exp.column(from_key or key, "o", quoted=True)))
                 .where(exp.and_(exp.Is(this=exp.column(column, "t", quoted=True), expression=exp.Null()),
                                 exp.Not(this=exp.Is(this=exp.column(from_column or column, "o", quoted=True),
                                                     expression=exp.Null()))))
                 .limit(limit))
            src = f"{pairs[1][1].qualified_name}.{from_column or column} joined on {key}"
            return [{"key": k, "column": column, "suggested": v, "reason": f"from {src}"} for k, v in _rows(target, q)]
        assert group_by is not None
        gaps = _rows(target, exp.select(_col(key), _col(group_by)).from_(t).where(missing).limit(limit))
        mode = exp.select(_col(group_by), _col(column), exp.func("COUNT", exp.Star()).as_("n")).from_(
            t.copy()).where(exp.Not(this=missing.copy())).group_by(_col(group_by), _col(column))
        best: dict[Any, tuple[Any, int]] = {}
        for g, v, n in _rows(target, mode):
            if g not in best or n > best[g][1]:
                best[g] = (v, n)
        return [{"key": k, "column": column, "suggested": best[g][0],
                 "reason": f"most frequent {column} among rows with {group_by}={g} ({best[g][1]} rows)"}
                for k, g in gaps if g in best]
    finally:
        target.close()


@reads_source_data("quality.suggest.correct", via="steward", target=lambda fabric, asset, *a, **k: (fabric, asset))
def corrections(fabric: Fabric, asset: str, column: str, *, standard: str | None = None,
                domain: list[str] | None = None, limit: int = 50, candidates: int = 3) -> list[dict[str, Any]]:
    """Wrong values with their nearest valid candidates: recomputed check characters for credit
    codes / resident IDs (found by the same SQL check as the rule), nearest codes of a domain."""
    if (standard is None) == (domain is None):
        raise ValidationFailed("give either standard (uscc | resident_id) or domain (the valid codes)")
    pairs = _pairs(fabric, asset)
    _columns(pairs[0][1], [column])
    target = open_target(fabric, pairs[0], [])
    try:
        t = target.table(pairs[0][1].id)
        notnull = exp.Not(this=exp.Is(this=_col(column), expression=exp.Null()))
        if standard is not None:
            if standard not in ("uscc", "resident_id"):
                raise ValidationFailed("standard must be uscc or resident_id")
            bad = sqlchecks.invalid(standard, column)
            q = exp.select(_col(column)).distinct().from_(t).where(exp.and_(notnull, bad)).limit(limit)
            fn = uscc_candidates if standard == "uscc" else resident_id_candidates
            return [{"value": v, "candidates": fn(str(v))[:candidates],
                     "reason": f"not a valid {standard}; candidates one edit away with correct check characters"}
                    for (v,) in _rows(target, q)]
        assert domain is not None
        values = [str(d) for d in domain]
        q = (exp.select(_col(column)).distinct().from_(t)
             .where(exp.and_(notnull, exp.Not(this=exp.In(this=_col(column),
                                                          expressions=[exp.convert(d) for d in values]))))
             .limit(limit))
        out = []
        for (v,) in _rows(target, q):
            near = process.extract(str(v), values, scorer=fuzz.ratio, limit=candidates)
            out.append({"value": v, "candidates": [c for c, _, _ in near],
                        "reason": "outside the domain; nearest codes by edit distance"})
        return out
    finally:
        target.close()


@reads_source_data("quality.duplicates", via="steward", target=lambda fabric, asset, *a, **k: (fabric, asset))
def duplicates(fabric: Fabric, asset: str, record: dict[str, Any], columns: list[str], *,
               block_on: str | None = None, prefix: int = 2, threshold: float = 85.0,
               limit: int = 10) -> list[dict[str, Any]]:
    """Rows of ``asset`` that likely duplicate ``record``: only rows sharing the first ``prefix``
    characters of ``block_on`` are compared (blocking), scored by rapidfuzz over ``columns``."""
    if not columns:
        raise ValidationFailed("name the columns to compare")
    block = block_on or columns[0]
    missing = [c for c in [*columns, block] if c not in record]
    if missing:
        raise ValidationFailed(f"the record lacks {', '.join(missing)}")
    pairs = _pairs(fabric, asset)
    _columns(pairs[0][1], [*columns, block])
    target = open_target(fabric, pairs[0], [])
    try:
        t = target.table(pairs[0][1].id)
        cols = list(dict.fromkeys([*columns, block]))
        stem = str(record[block])[:prefix]
        starts = exp.StartsWith(this=exp.cast(_col(block), "VARCHAR"), expression=exp.convert(stem))
        q = exp.select(*[_col(c) for c in cols]).from_(t).where(starts).limit(200_000)
        rows = _rows(target, q)
    finally:
        target.close()
    out = []
    for row in rows:
        vals = dict(zip(cols, row, strict=True))
        scores = [fuzz.token_sort_ratio(str(record[c] or ""), str(vals[c] or "")) for c in columns]
        score = sum(scores) / len(scores)
        if score >= threshold:
            out.append({"score": round(score, 1), "row": vals,
                        "per_column": dict(zip(columns, [round(x, 1) for x in scores], strict=True))})
    return sorted(out, key=lambda d: -d["score"])[:limit]


def merge_suggestions(fabric: Fabric, *, threshold: float = 85.0, min_overlap: float = 0.8) -> list[dict[str, Any]]:
    """Same-name or similar assets across the catalog, with how their columns overlap."""
    with fabric.store.session() as s:
        assets = active_assets_with_columns(s)
        info = [(a.qualified_name, a.name.split(".")[-1].lower(), a.cn_name or "", {c.name.lower() for c in a.columns},
                 a.owner_department) for a in assets]
    out = []
    for i, (qa, na, ca, cols_a, da) in enumerate(info):
        for qb, nb, cb, cols_b, db in info[i + 1:]:
            name_score = fuzz.ratio(na, nb)
            cn_score = fuzz.ratio(ca, cb) if ca and cb else 0.0
            overlap = len(cols_a & cols_b) / max(1, min(len(cols_a), len(cols_b)))
            reasons = []
            if na == nb:
                reasons.append("same name")
            elif name_score >= threshold:
                reasons.append(f"similar names ({name_score:.0f})")
            if cn_score >= threshold:
                reasons.append(f"similar Chinese names ({cn_score:.0f})")
            if overlap >= min_overlap and min(len(cols_a), len(cols_b)) >= 3:
                reasons.append(f"{overlap:.0%} shared columns")
            if reasons:
                out.append({"assets": [qa, qb], "departments": [da, db], "reasons": reasons,
                            "shared_columns": sorted(cols_a & cols_b),
                            "suggestion": "merge into one authoritative asset or declare one the master copy"})
    return sorted(out, key=lambda d: -len(d["reasons"]))
