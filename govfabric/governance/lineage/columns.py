"""Column-level lineage of a query, DIRECT and INDIRECT.

DIRECT edges come from ``sqlglot.lineage`` (one scope build for the whole query, then
one walk per output column). sqlglot gives no INDIRECT edges (join keys, filters,
grouping, sorting, window partitions), so we add them: every column of a base table
used in such a clause affects the whole output.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.lineage import to_node
from sqlglot.optimizer.scope import Scope, build_scope

Dataset = Callable[[str], tuple[str, str]]  # virtual table name -> (namespace, name)

INDIRECT_CLAUSES: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Join, "JOIN"), (exp.Where, "FILTER"), (exp.Having, "FILTER"), (exp.Group, "GROUP_BY"),
    (exp.Order, "SORT"), (exp.Window, "WINDOW"),
)


def _table_name(table: exp.Table) -> str:
    return ".".join(p for p in (table.db, table.name) if p).lower()


def _direct(expression: exp.Query, dataset: Dataset, masked: dict[str, set[str]]) -> dict[str, list[dict[str, Any]]]:
    scope = build_scope(expression)
    out: dict[str, list[dict[str, Any]]] = {}
    if scope is None:
        return out
    # by index and untrimmed: sqlglot's lookup by name scans the SELECT list and its trimming
    # copies the whole query, per column — quadratic in the SELECT list
    for index, select in enumerate(expression.selects):
        column = select.alias_or_name
        if not column or column in out:
            continue  # the first of equal names, as a lookup by name finds
        node = to_node(index, scope, "duckdb", None, trim_selects=False)
        inputs: dict[tuple[str, str, str], dict[str, Any]] = {}
        for n in node.walk():
            if isinstance(n.source, exp.Table) and isinstance(n.expression, exp.Column | exp.Table):
                table = _table_name(n.source)
                field = n.name.split(".")[-1].strip('"').lower()
                ns, name = dataset(table)
                key = (ns, name, field)
                agg = isinstance(node.expression, exp.Alias) and bool(node.expression.find(exp.AggFunc))
                identity = isinstance(node.expression, exp.Column) or (
                    isinstance(node.expression, exp.Alias) and isinstance(node.expression.this, exp.Column))
                subtype = "AGGREGATION" if agg else ("IDENTITY" if identity else "TRANSFORMATION")
                inputs[key] = {"namespace": ns, "name": name, "field": field, "transformations": [
                    {"type": "DIRECT", "subtype": subtype, "masking": field in masked.get(table, set())}]}
        out[column] = list(inputs.values())
    return out


def _indirect(expression: exp.Query, dataset: Dataset) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    root = build_scope(expression)
    scopes: list[Scope] = list(root.traverse()) if root else []
    for scope in scopes:
        for clause_type, subtype in INDIRECT_CLAUSES:
            for clause in scope.expression.find_all(clause_type):
                if clause_type is exp.Join:
                    target = clause.args.get("on")
                    if target is None:
                        continue
                else:
                    target = clause
                for col in target.find_all(exp.Column):
                    source = scope.sources.get(col.table)
                    if not isinstance(source, exp.Table):
                        continue
                    table = _table_name(source)
                    ns, name = dataset(table)
                    key = (ns, name, col.name.lower(), subtype)
                    seen.setdefault(key, {"namespace": ns, "name": name, "field": col.name.lower(),
                                          "transformations": [{"type": "INDIRECT", "subtype": subtype}]})
    return list(seen.values())


def query_lineage(expression: exp.Query, namespace: str, masked: dict[str, set[str]]) -> dict[str, Any]:
    """Column lineage of a virtual query whose datasets are ``(namespace, table)``; remembered per
    query text, because dashboards and reports run the same queries again and again."""
    key = (expression.sql(dialect="duckdb"), namespace,
           tuple(sorted((t, tuple(sorted(c))) for t, c in masked.items())))
    hit = _CACHE.get(key)
    if hit is None:
        hit = column_lineage(expression, lambda t: (namespace, t), masked)
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = hit
    return copy.deepcopy(hit)


CACHE_SIZE = 512
_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}


def column_lineage(expression: exp.Query, dataset: Dataset,
                   masked: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """The ``columnLineage`` facet body (``fields`` and ``dataset``) for a qualified query."""
    masked = masked or {}
    fields = {col: {"inputFields": inputs} for col, inputs in _direct(expression, dataset, masked).items()}
    return {"fields": fields, "dataset": _indirect(expression, dataset)}
