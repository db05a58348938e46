"""The virtual SQL pipeline up to execution: parse → validate → authorise → rewrite → transpile.

``plan`` is pure: it reads nothing but its arguments and returns the SQL an engine runs.
Execution, recording and lineage happen around it (``engines/`` and the service layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from govfabric.errors import AccessDenied, QueryRejected
from govfabric.virtualization.policy import ENGINES, Policy, Resolver, VirtualTable
from govfabric.virtualization.rewrite import (
    columns_by_alias,
    derived_table,
    expand,
    require_grants,
    schema_for,
)
from govfabric.virtualization.validate import parse_sql

#: Identifiers are normalised like DuckDB does (case-insensitive, lowercase) whatever the
#: input dialect, so virtual names mean the same in every dialect.
NORMALIZE_DIALECT = "duckdb"
UNKNOWN_COLUMN_HINT = (
    "the column is unknown or not visible to you: check the column names against the catalog"
)


@dataclass(frozen=True)
class PlannedQuery:
    """A query ready for one engine.

    ``expression`` is the rewritten tree (physical references; masks are built for ``engine``,
    the hash mask differs per engine); ``sql`` is it generated for ``engine``;
    ``virtual_expression`` (only with ``keep_virtual=True``) is the qualified query over
    virtual names with views expanded, before the rewrite — the input for column lineage.
    Plans the query service keeps between queries drop both trees (``None``): they hold
    most of a plan's memory and nothing there reads them again.
    """

    expression: exp.Query | None
    sql: str
    engine: str
    dialect: str
    tables_used: tuple[str, ...]
    views_used: tuple[str, ...]
    columns_used: Mapping[str, tuple[str, ...]]
    masked_columns: Mapping[str, tuple[str, ...]]
    row_filtered: tuple[str, ...]
    output_columns: tuple[str, ...]
    virtual_expression: exp.Query | None = field(default=None, compare=False)


def plan(
    sql: str,
    *,
    dialect: str | None = None,
    engine: str = "duckdb",
    resolver: Resolver,
    policy: Policy,
    keep_virtual: bool = False,
    params: int = 0,
) -> PlannedQuery:
    """Plan ``sql`` (in ``dialect``, default duckdb) for ``engine`` as ``policy.principal``;
    ``params``: how many ``?`` placeholders it holds (values bound when it runs).

    Raises ``QueryRejected`` (not allowed / not understood / unknown names) or
    ``AccessDenied`` (no grant on a table, or a column not granted).
    """
    if engine not in ENGINES:
        raise QueryRejected(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    dialect = (dialect or "duckdb").lower()
    root = parse_sql(sql, dialect)
    name_projections(root)
    expanded = expand(root, resolver)
    placeholders = sum(1 for _ in expanded.root.find_all(exp.Placeholder))
    if placeholders != params:
        raise QueryRejected(f"the query's ? placeholders are not bound: it has {placeholders}, {params} value(s) "
                            "were given; write values as literals, or pass one value per ? (params)")
    tables = {vt.name: vt for _, vt in expanded.tables}
    require_grants(tables.values(), policy)
    # names are lowercase already (policy.py), so the schema skips sqlglot's normalisation
    schema = MappingSchema(schema_for(tables.values(), policy), dialect=NORMALIZE_DIALECT, normalize=False)
    try:
        root = qualify(
            expanded.root,
            dialect=NORMALIZE_DIALECT,
            schema=schema,
            canonicalize_table_aliases=True,
            quote_identifiers=True,
            identify=True,
        )
    except OptimizeError as err:
        _diagnose(sql, dialect, resolver, policy, err)
        raise  # _diagnose always raises

    if engine == "duckdb":
        _integer_division(root, schema)
    by_alias: dict[str, VirtualTable] = {}
    nodes: list[tuple[exp.Table, VirtualTable]] = []
    for table in list(root.find_all(exp.Table)):
        if not table.args.get("db"):
            continue  # CTE reference (views are expanded, physical names refused)
        vt = tables[f"{table.db}.{table.name}"]
        by_alias[table.alias] = vt
        nodes.append((table, vt))
    visible = {name: policy.tables[name].visible(vt) for name, vt in tables.items()}
    used = columns_by_alias(root, by_alias, visible)
    output = tuple(root.named_selects)
    virtual_expression = root.copy() if keep_virtual else None

    masked: dict[str, tuple[str, ...]] = {}
    for table, vt in nodes:
        grant = policy.tables[vt.name]
        alias = table.args["alias"]
        sub, masked_cols = derived_table(vt, used[vt.name], grant, policy, engine, alias)
        table.replace(sub)
        masked[vt.name] = tuple(masked_cols)
    try:
        text = root.sql(dialect=engine, copy=False, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise QueryRejected(f"the query cannot be expressed for {engine}: {err}") from None
    return PlannedQuery(
        expression=root,
        sql=text,
        engine=engine,
        dialect=dialect,
        tables_used=tuple(sorted(tables)),
        views_used=tuple(dict.fromkeys(expanded.views)),
        columns_used={name: tuple(sorted(cols)) for name, cols in sorted(used.items())},
        masked_columns={k: v for k, v in sorted(masked.items()) if v},
        row_filtered=tuple(sorted(n for n in tables if policy.tables[n].filtered)),
        output_columns=output,
        virtual_expression=virtual_expression,
    )


def name_projections(root: exp.Query) -> None:
    """Alias the result's unnamed projections as DuckDB names them (``count_star()``, ``sum(zczb)``,
    ``(a + b)``), on every engine: qualification would call them ``_col_0``, ``_col_1``…"""
    query: object = root
    while isinstance(query, exp.SetOperation | exp.Subquery):  # a union's names are its first query's
        query = query.this
    if not isinstance(query, exp.Select):
        return
    taken = {p.alias_or_name for p in query.expressions if isinstance(p, exp.Alias | exp.Column)}
    for projection in list(query.expressions):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            continue
        try:
            name = duckdb_name(projection)
        except RecursionError:  # nested too deeply to name; the pipeline refuses it further on
            continue
        if name in taken:  # a second count(*): left to qualification, names stay unique
            continue
        taken.add(name)
        projection.replace(exp.alias_(projection.copy(), exp.to_identifier(name, quoted=True)))


def duckdb_name(expression: exp.Expression) -> str:
    """The name DuckDB gives an unaliased projection: its SQL text, function names in lower case,
    ``count(*)`` as ``count_star()``, operators in parentheses."""
    shaped = exp.Paren(this=expression.copy())  # a holder, so the top node can be replaced too
    for count in list(shaped.find_all(exp.Count)):
        if isinstance(count.this, exp.Star):
            count.replace(exp.Anonymous(this="count_star", expressions=[]))
    for op in list(shaped.find_all(exp.Binary)):
        if not isinstance(op.parent, exp.Paren) or op.parent is shaped:
            paren = exp.Paren()
            op.replace(paren)
            paren.set("this", op)
    return shaped.this.sql(dialect=NORMALIZE_DIALECT, normalize_functions="lower")


def _integer_division(root: exp.Query, schema: MappingSchema) -> None:
    """Dialects with typed division (PostgreSQL, Trino, T-SQL…) divide integers to an integer;
    DuckDB's ``/`` always divides exactly and sqlglot does not bridge that, so integer ``/``
    from such a dialect becomes DuckDB's ``//``. Types are only annotated when needed."""
    typed = [d for d in root.find_all(exp.Div) if d.args.get("typed")]
    if not typed:
        return
    annotate_types(root, schema=schema, dialect=NORMALIZE_DIALECT)
    for div in typed:
        if div.this.is_type(*exp.DataType.INTEGER_TYPES) and div.expression.is_type(
            *exp.DataType.INTEGER_TYPES
        ):
            div.replace(exp.IntDiv(this=div.this, expression=div.expression))


def _diagnose(sql: str, dialect: str, resolver: Resolver, policy: Policy, err: OptimizeError) -> None:
    """Qualification failed against the visible columns: say whether a column exists but is
    not granted (AccessDenied, naming it) or does not exist (QueryRejected)."""
    expanded = expand(parse_sql(sql, dialect), resolver)
    tables = {vt.name: vt for _, vt in expanded.tables}
    full = MappingSchema(schema_for(tables.values(), policy, full=True), dialect=NORMALIZE_DIALECT)
    try:
        root = qualify(expanded.root, dialect=NORMALIZE_DIALECT, schema=full, canonicalize_table_aliases=True)
    except OptimizeError:
        raise QueryRejected(f"{_clean(err)}; {UNKNOWN_COLUMN_HINT}") from None
    by_alias = {t.alias: tables[f"{t.db}.{t.name}"] for t in root.find_all(exp.Table) if t.args.get("db")}
    everything = {n: {c.name: None for c in vt.visible_columns} for n, vt in tables.items()}
    used = columns_by_alias(root, by_alias, everything)
    denied = [
        f"{name}.{col}"
        for name, cols in sorted(used.items())
        for col in sorted(cols)
        if col not in policy.tables[name].visible(tables[name])
    ]
    if denied:
        raise AccessDenied(
            f"{policy.principal} is not granted column(s) {', '.join(denied)}; request them with "
            "`govfabric access request TABLE --columns …`"
        )
    raise QueryRejected(f"{_clean(err)}; {UNKNOWN_COLUMN_HINT}")


def _clean(err: Exception) -> str:
    return str(err).splitlines()[0].rstrip(".")
