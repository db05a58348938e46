"""Rewrite a validated query on its AST: expand views, qualify columns, and replace every
virtual table by a derived table over its physical table.

The derived table selects only the columns the query needs, under their virtual names; row
filters are evaluated inside it on raw values, and masked columns are replaced by their mask
inside it, so nothing outside can see a raw value of a masked column or a filtered row.
Hidden and non-granted columns are simply not in it. Several grants on one table never widen:
each value is shown only where one grant covering its column holds on its row (``_shown``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from govfabric.errors import AccessDenied, ConfigError, QueryRejected
from govfabric.virtualization.masks import MASKS, STRING_TYPES, apply_mask
from govfabric.virtualization.policy import (
    Policy,
    Resolver,
    TableGrant,
    VirtualColumn,
    VirtualTable,
    VirtualView,
)
from govfabric.virtualization.validate import Validator, check_string_sizes, is_system_name, parse_sql

MAX_VIEW_DEPTH = 8


@dataclass
class Expanded:
    """A query with its views expanded: the virtual table nodes left and what was used."""

    root: exp.Query
    tables: list[tuple[exp.Table, VirtualTable]] = field(default_factory=list)
    views: list[str] = field(default_factory=list)


def expand(root: exp.Query, resolver: Resolver) -> Expanded:
    """Validate ``root`` and expand views recursively (depth-limited, cycles refused)."""
    out = Expanded(root=root)
    _expand(root, resolver, out, stack=())
    check_string_sizes(out.root)  # over the expanded views too: growth multiplies through them
    return out


def _resolve(resolver: Resolver, name: str) -> VirtualTable | VirtualView:
    try:
        return resolver.resolve(name)
    except QueryRejected:
        if is_system_name(name):
            raise QueryRejected(
                f"{name} looks like an engine system catalog; system catalogs are not queryable"
            ) from None
        raise


def _expand(node: exp.Query, resolver: Resolver, out: Expanded, stack: tuple[str, ...]) -> None:
    binding = Validator().run(node)
    for table, name in binding.virtual:
        obj = _resolve(resolver, name)
        if isinstance(obj, VirtualTable):
            table.set("db", exp.to_identifier(obj.name.split(".")[0], quoted=True))
            table.set("this", exp.to_identifier(obj.name.split(".")[1], quoted=True))
            out.tables.append((table, obj))
            continue
        if obj.name in stack:
            raise QueryRejected(f"view {obj.name} refers to itself through {' → '.join(stack)}")
        if len(stack) >= MAX_VIEW_DEPTH:
            raise QueryRejected(f"views nest more than {MAX_VIEW_DEPTH} deep at {obj.name}")
        try:
            body = parse_sql(obj.sql, obj.dialect)
        except QueryRejected as err:
            raise QueryRejected(f"view {obj.name} is broken: {err}") from None
        out.views.append(obj.name)
        _expand(body, resolver, out, (*stack, obj.name))
        alias = table.args.get("alias")
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier(table.name))
        table.replace(exp.Subquery(this=body, alias=alias))


def schema_for(
    tables: Iterable[VirtualTable], policy: Policy, *, full: bool = False
) -> dict[str, dict[str, dict[str, str]]]:
    """The qualify schema: visible (granted or masked) columns, or all non-hidden ones."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for vt in tables:
        db, name = vt.name.split(".")
        grant = policy.tables[vt.name]
        if full:
            cols = {c.name: c.type for c in vt.visible_columns}
        else:
            visible = grant.visible(vt)
            cols = {c.name: c.type for c in vt.visible_columns if c.name in visible}
        schema.setdefault(db, {})[name] = cols
    return schema


@lru_cache(maxsize=4096)
def _parse_expr(sql: str, dialect: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError) as err:
        raise ConfigError(f"expression {sql!r} does not parse as {dialect} SQL: {err}") from None


def raw_expression(vt: VirtualTable, col: VirtualColumn) -> exp.Expression:
    """The column's value over the physical table (before any mask)."""
    if col.physical is not None:
        return exp.column(exp.to_identifier(col.physical, quoted=True))
    assert col.expr is not None
    tree = _parse_expr(col.expr, vt.expr_dialect).copy()
    if any(isinstance(n, exp.Query | exp.Table) for n in tree.walk()):
        raise ConfigError(f"column {vt.name}.{col.name}: expressions may not contain subqueries")
    for ident in tree.find_all(exp.Identifier):
        if isinstance(ident.parent, exp.Column):
            ident.set("quoted", True)
    return tree


def _principal_value(policy: Policy, attr: str, table: str) -> exp.Expression:
    if attr not in policy.attributes or policy.attributes[attr] is None:
        raise AccessDenied(
            f"the row filter on {table} needs the principal attribute {attr!r}, which "
            f"{policy.principal} has not got; ask a steward to set it"
        )
    value: Any = policy.attributes[attr]
    if isinstance(value, list | tuple | set | frozenset | dict):
        raise ConfigError(f"principal attribute {attr!r} must be a single value to use in a row filter")
    return exp.convert(value)


def compile_row_filter(vt: VirtualTable, grant: TableGrant, predicate: str, policy: Policy) -> exp.Expression:
    """A row filter over raw physical values, with principal attributes substituted as literals."""
    tree = _parse_expr(predicate, grant.filter_dialect).copy()
    short = vt.name.split(".")[1]

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "principal_attr":
            args = node.expressions
            if len(args) != 1 or not (isinstance(args[0], exp.Literal) and args[0].is_string):
                raise ConfigError("principal_attr takes one string literal: principal_attr('region')")
            return _principal_value(policy, args[0].name, vt.name)
        if (
            isinstance(node, exp.Dot)
            and isinstance(node.this, exp.Placeholder)
            and str(node.this.this).lower() == "principal"
        ):
            return _principal_value(policy, node.expression.name, vt.name)
        return node

    tree = tree.transform(substitute, copy=False)
    if any(isinstance(n, exp.Query | exp.Table) for n in tree.walk()):
        raise ConfigError(f"row filter on {vt.name} may not contain subqueries: {predicate}")
    try:
        Validator().run(tree)
    except QueryRejected as err:
        raise ConfigError(f"row filter on {vt.name} is not allowed ({err}): {predicate}") from None

    def to_raw(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if node.table and node.table.lower() != short:
                raise ConfigError(f"row filter on {vt.name} refers to another table: {node.sql()}")
            col = vt.column(node.name)
            if col is None:
                raise ConfigError(f"row filter on {vt.name} refers to unknown column {node.name!r}")
            return raw_expression(vt, col)
        return node

    return exp.paren(tree.transform(to_raw, copy=False), copy=False)


def columns_by_alias(
    root: exp.Expression, tables: Mapping[str, VirtualTable], visible: Mapping[str, Mapping[str, Any]]
) -> dict[str, set[str]]:
    """Virtual table name → columns the qualified query reads of it (aliases are unique after
    ``canonicalize_table_aliases``)."""
    used: dict[str, set[str]] = {vt.name: set() for vt in tables.values()}
    for col in root.find_all(exp.Column):
        vt = tables.get(col.table)
        if vt is not None and col.name in visible[vt.name]:
            used[vt.name].add(col.name)
    return used


def derived_table(
    vt: VirtualTable,
    needed: Iterable[str],
    grant: TableGrant,
    policy: Policy,
    engine: str,
    alias: exp.TableAlias,
) -> tuple[exp.Subquery | exp.Table, list[str]]:
    """The derived table standing in for ``vt``; returns it and the masked columns it holds.

    When nothing needs rewriting (no row filter, no mask, every column read is a physical
    column of the same name) it is the bare physical table under ``alias``: a projection
    subquery costs DuckDB optimisations (TPC-H Q11 ×1.9), and the qualified query already reads
    only visible columns by name (stars are expanded, unknown names refused before this)."""
    physical = vt.physical.get(engine)
    if physical is None:
        raise QueryRejected(f"virtual table {vt.name} is not available on the {engine} engine")
    catalog, schema, table = physical
    source = exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema, quoted=True),
        catalog=exp.to_identifier(catalog, quoted=True),
    )
    filters = [compile_row_filter(vt, grant, f, policy) for f in grant.row_filters]
    holds = [None if p.row_filter is None else compile_row_filter(vt, grant, p.row_filter, policy)
             for p in grant.parts]
    if all(h is not None for h in holds):  # a row is kept where any grant's row filter holds
        filters.append(_or([h for h in holds if h is not None]))
    selects: list[exp.Expression] = []
    masked: list[str] = []
    wanted = set(needed)
    bare = not filters
    for col in vt.visible_columns:
        if col.name not in wanted:
            continue
        value, is_masked = _shown(vt, col, grant, holds, engine)
        if is_masked:
            masked.append(col.name)
        bare = bare and not is_masked and _is_bare(value, col)
        selects.append(exp.alias_(value, exp.to_identifier(col.name, quoted=True), copy=False))
    if bare:
        source.set("alias", alias)
        return source, masked
    if not selects:  # e.g. COUNT(*): the rows matter, not the columns
        selects.append(exp.alias_(exp.Literal.number(1), exp.to_identifier("_row", quoted=True)))
    select = exp.Select(expressions=selects).from_(source, copy=False)
    if filters:
        select.set("where", exp.Where(this=exp.and_(*filters, copy=False)))
    return exp.Subquery(this=select, alias=alias), masked


def _is_bare(value: exp.Expression, col: VirtualColumn) -> bool:
    """Whether ``value`` is the physical column of ``col``'s own name, unchanged."""
    return (
        isinstance(value, exp.Column)
        and not value.table
        and col.physical is not None
        and value.name == col.physical == col.name
    )


def _any_holds(holds: list[exp.Expression | None], parts: Iterable[int]) -> exp.Expression | None:
    """Where any of ``parts`` holds, among the rows the derived table keeps: ``None`` when that
    is every kept row (a part without a row filter, or all parts — the rows are kept by their OR)."""
    chosen = list(parts)
    if len(chosen) == len(holds) or any(holds[i] is None for i in chosen):
        return None
    return _or([h.copy() for h in (holds[i] for i in chosen) if h is not None])


def _or(conditions: list[exp.Expression]) -> exp.Expression:
    if len(conditions) == 1:
        return conditions[0]
    return exp.paren(exp.or_(*conditions, copy=False), copy=False)


def _when(cases: list[tuple[exp.Expression | None, exp.Expression]]) -> exp.Expression:
    """``CASE WHEN c1 THEN v1 … END`` (NULL where none holds); a ``None`` condition is the ELSE."""
    ifs: list[exp.Expression] = []
    for cond, value in cases:
        if cond is None:
            return exp.Case(ifs=ifs, default=value) if ifs else value
        ifs.append(exp.If(this=cond, true=value))
    return exp.Case(ifs=ifs)


def _shown(
    vt: VirtualTable, col: VirtualColumn, grant: TableGrant, holds: list[exp.Expression | None], engine: str
) -> tuple[exp.Expression, bool]:
    """The column's value in the derived table and whether it may be masked: clear where a part
    covering it in clear holds, else masked where a part covering it holds, else NULL."""
    raw = raw_expression(vt, col)
    covering = grant.covering(col.name)
    spec = grant.masks.get(col.name)
    clear = [i for i in covering if spec is None or col.name in grant.parts[i].unmasked]
    shaded = [i for i in covering if i not in clear]
    in_clear = _any_holds(holds, clear) if clear else exp.false()
    if not shaded or in_clear is None:
        return _when([(in_clear, raw)]), False
    assert spec is not None
    mask = apply_mask(raw.copy(), spec.rule, spec.params, engine, col.type)
    if clear and not _same_type(spec.rule, col.type):  # CASE needs one type: both as text
        raw, mask = exp.cast(raw, "VARCHAR"), exp.cast(mask, "VARCHAR")
    cases = [(in_clear, raw)] if clear else []
    return _when([*cases, (_any_holds(holds, shaded), mask)]), True


def _same_type(rule: str, column_type: str) -> bool:
    """Whether the mask ``rule`` keeps a value of ``column_type`` in a compatible type."""
    out = MASKS[rule].output_type if rule in MASKS else None
    if out is None:
        return True
    kind = column_type.upper()
    return kind.startswith(out) or (out in STRING_TYPES and kind.startswith(STRING_TYPES))


def require_grants(tables: Iterable[VirtualTable], policy: Policy) -> None:
    """Default deny: every virtual table read needs a grant."""
    for vt in tables:
        if vt.name not in policy.tables:
            raise AccessDenied(
                f"{policy.principal} has no grant on {vt.name}; request it with "
                f"`govfabric access request {vt.name} --columns … --purpose …`"
            )
