"""Rule → great-expectations expectation, on a given target (dialect and table names)."""

from __future__ import annotations

from typing import Any

from govfabric.governance.quality import gx, sqlchecks
from govfabric.governance.quality.rules import (
    FluctuationRule,
    FormatRule,
    InSetRule,
    NotNullRule,
    ReferenceRule,
    UniqueRule,
)
from govfabric.governance.quality.targets import Target


def bounds(rule: FluctuationRule, history: list[float]) -> tuple[float | None, float | None]:
    """Allowed range: the mean of the last ``window`` values ± ``max_change`` of it (none yet: open)."""
    if not history:
        return None, None
    base = sum(history[-rule.window:]) / len(history[-rule.window:])
    if base == 0:
        return -rule.max_change, rule.max_change
    lo, hi = base * (1 - rule.max_change), base * (1 + rule.max_change)
    return min(lo, hi), max(lo, hi)


def build(rule: Any, target: Target, ref_asset_id: str | None, history: list[float], rid: str) -> Any:
    g = gx.gx()
    E = g.expectations
    meta = {"govfabric_rule": rid}
    desc = rule.description
    if isinstance(rule, UniqueRule):
        cols = rule.columns()
        if len(cols) == 1:  # one GROUP BY pass instead of GX's two window-function passes
            q = sqlchecks.unexpected_query(cols[0], sqlchecks.duplicated(cols[0]), target.dialect)
            return gx.sql_check(cols[0], q, "unique", desc or f"{cols[0]}: values must be unique", meta)
        return E.ExpectCompoundColumnsToBeUnique(column_list=cols, meta=meta, description=desc)
    if isinstance(rule, NotNullRule):
        return E.ExpectColumnValuesToNotBeNull(column=rule.column, mostly=rule.min_ratio, meta=meta,
                                               description=desc)
    if isinstance(rule, InSetRule):
        return E.ExpectColumnValuesToBeInSet(column=rule.column, value_set=list(rule.values), meta=meta,
                                             description=desc)
    if isinstance(rule, FluctuationRule):
        lo, hi = bounds(rule, history)
        if rule.metric == "row_count":
            return E.ExpectTableRowCountToBeBetween(min_value=lo if lo is None else max(0, int(lo)),
                                                    max_value=hi if hi is None else int(hi) + (hi % 1 > 0),
                                                    meta=meta, description=desc)
        if rule.metric == "mean":
            return E.ExpectColumnMeanToBeBetween(column=rule.column, min_value=lo, max_value=hi, meta=meta,
                                                 description=desc)
        if rule.metric == "sum":
            return E.ExpectColumnSumToBeBetween(column=rule.column, min_value=lo, max_value=hi, meta=meta,
                                                description=desc)
        # null_ratio is checked as the proportion of non-null values (1 - null ratio)
        return E.ExpectColumnProportionOfNonNullValuesToBeBetween(
            column=rule.column, min_value=None if hi is None else max(0.0, 1 - hi),
            max_value=None if lo is None else min(1.0, 1 - lo), meta=meta, description=desc)
    if isinstance(rule, FormatRule):
        bad = sqlchecks.invalid(rule.standard or "pattern", rule.column, rule.pattern)
        what = {"uscc": "valid unified social credit codes (GB 32100 check characters)",
                "resident_id": "valid resident ID numbers (GB 11643 check character)"}.get(
            rule.standard or "", f"values matching {rule.pattern}")
        q = sqlchecks.unexpected_query(rule.column, bad, target.dialect)
        return gx.sql_check(rule.column, q, rule.standard or "pattern", desc or f"{rule.column}: {what}", meta)
    if isinstance(rule, ReferenceRule):
        assert ref_asset_id is not None
        bad = sqlchecks.not_in_reference(rule.column, target.table(ref_asset_id), rule.ref_column)
        q = sqlchecks.unexpected_query(rule.column, bad, target.dialect)
        return gx.sql_check(rule.column, q, "reference",
                            desc or f"{rule.column} values exist in {rule.ref_asset}.{rule.ref_column}", meta)
    raise TypeError(f"unknown rule {rule!r}")


def metric_of(rule: Any, observed: Any) -> float | None:
    """The number a fluctuation rule keeps in history (null ratio from the non-null proportion)."""
    if not isinstance(rule, FluctuationRule) or not isinstance(observed, int | float):
        return None
    return 1 - float(observed) if rule.metric == "null_ratio" else float(observed)
