"""The restricted condition grammar of ordered ranges: a caller's filter is parsed with sqlglot and
kept only if every node is one of: the table's columns, literals, comparisons, IN (a list),
BETWEEN, LIKE on strings, IS [NOT] NULL, AND/OR/NOT and parentheses. Functions, subqueries, other
tables, comments and several statements are refused — the filter becomes a grant's row restriction
and part of every read, so what it may say is listed, not what it may not."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from govfabric.errors import ValidationFailed

_ALLOWED: tuple[type[exp.Expression], ...] = (
    exp.And, exp.Or, exp.Not, exp.Paren,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.In, exp.Between, exp.Like, exp.Is,
    exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Neg,
)

MAX_CHARS = 4000
HINT = ("; a filter may use the table's columns, literals, = <> < <= > >=, IN (…), BETWEEN, LIKE on text, "
        "IS [NOT] NULL, AND, OR, NOT")


def parse_filter(text: str, columns: dict[str, str]) -> exp.Condition:
    """The filter ``text`` as a checked sqlglot condition over ``columns`` (name → type)."""
    if "\x00" in text or len(text) > MAX_CHARS:
        raise ValidationFailed(f"the filter is not allowed: longer than {MAX_CHARS} characters or with a NUL byte"
                               + HINT)
    try:
        trees = sqlglot.parse(text, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise ValidationFailed(f"the filter is not a condition: {str(exc).splitlines()[0]}" + HINT) from None
    if len(trees) != 1 or trees[0] is None:
        raise ValidationFailed("the filter is not allowed: several statements are refused" + HINT)
    tree = trees[0]
    if not isinstance(tree, exp.Condition) or isinstance(tree, exp.Column | exp.Literal):
        raise ValidationFailed(f"the filter is not a condition: {type(tree).__name__}" + HINT)
    for node in tree.walk():
        _check_node(node, columns)
    return tree


def _check_node(node: exp.Expr, columns: dict[str, str]) -> None:
    if node.comments:
        raise ValidationFailed("the filter is not allowed: comments are refused" + HINT)
    if isinstance(node, exp.Select | exp.Subquery | exp.Query):
        raise ValidationFailed("the filter is not allowed: subqueries are refused" + HINT)
    if isinstance(node, exp.Func) and not isinstance(node, _ALLOWED):
        raise ValidationFailed(f"the filter is not allowed: function {node.sql('duckdb')[:60]!r} is refused" + HINT)
    if not isinstance(node, _ALLOWED):
        raise ValidationFailed(f"the filter is not allowed: {type(node).__name__} "
                               f"({node.sql('duckdb')[:60]!r}) is refused" + HINT)
    if isinstance(node, exp.Column):
        if node.table or node.args.get("db") or node.args.get("catalog"):
            raise ValidationFailed(f"the filter is not allowed: {node.sql('duckdb')!r} names another table; "
                                   "use the ordered table's own column names")
        if node.name.lower() not in columns:
            raise ValidationFailed(f"the filter names no column of the table: {node.name!r}; columns: "
                                   + ", ".join(sorted(columns)))
    if isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest") or node.args.get("field")):
        raise ValidationFailed("the filter is not allowed: IN takes a list of literals" + HINT)
    if isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null):
        raise ValidationFailed("the filter is not allowed: IS takes only NULL (IS NULL / IS NOT NULL)" + HINT)
    if isinstance(node, exp.Like):
        col = node.this
        if not isinstance(col, exp.Column) or not isinstance(node.expression, exp.Literal) \
                or not node.expression.is_string:
            raise ValidationFailed("the filter is not allowed: LIKE compares a column with a text literal" + HINT)
        if not _is_text(columns.get(col.name.lower(), "")):
            raise ValidationFailed(f"the filter is not allowed: LIKE on {col.name!r}, which is not text" + HINT)


def _is_text(type_: str) -> bool:
    t = type_.upper()
    return any(w in t for w in ("CHAR", "TEXT", "STRING", "VARCHAR")) or t == ""


def filter_columns(tree: exp.Expr) -> set[str]:
    """The columns a checked filter reads."""
    return {c.name.lower() for c in tree.find_all(exp.Column)}
