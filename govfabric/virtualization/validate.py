"""Parse and validate user SQL against an allow-list of statement shapes, nodes and functions.

Only a single SELECT / WITH / set-operation query passes. Every node must be of an allowed
type; structural nodes may only carry allowed arguments (so a DuckDB- or Trino-only clause
that sqlglot would carry through silently is refused); every function must be on the
function allow-list. Table references are bound here too: a name is a CTE in scope or a
virtual ``schema.table`` name, nothing else (no file paths, table functions or three-part
physical names). Syntax that one engine lacks or that sqlglot mis-transpiles is refused on
every engine, so a query that runs gives the same rows on DuckDB and Trino.

Limits hold for every query (``Limits``, from the ``query_max_*`` settings): its size (syntax
nodes, SELECT items), the strings it may build (``check_string_sizes``) and, during planning, the
query timeout (``check_deadline``), so that planning stays linear in the query and bounded.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from govfabric.errors import QueryRejected

MAX_SQL_CHARS = 100_000
MAX_PAREN_DEPTH = 64
MAX_NODES = 20_000
MAX_DEPTH = 150
MAX_SELECT_ITEMS = 1_000
#: Strings are built outside DuckDB's buffer manager (its memory limit does not hold for them)
#: and a vector holds 2,048 values: 64 Ki characters per value is at most ~128 Mi per vector.
MAX_STRING_CHARS = 65_536
MAX_STRING_GROWTH = 64
#: how often (in syntax nodes) the validator looks at the planning deadline
DEADLINE_EVERY = 512

SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "system", "sys", "performance_schema", "mysql")


def _classes(*names: str) -> frozenset[type]:
    return frozenset(getattr(exp, n) for n in names if hasattr(exp, n))


#: Structural and operator nodes allowed anywhere (functions are listed apart).
ALLOWED_NODES: frozenset[type] = _classes(
    "Placeholder",  # ``?``: a value bound as a typed parameter (``QueryService.stream(params=…)``)
    "Select",
    "Union",
    "Intersect",
    "Except",
    "With",
    "CTE",
    "Subquery",
    "From",
    "Join",
    "Where",
    "Group",
    "Having",
    "Qualify",
    "Order",
    "Ordered",
    "Limit",
    "Offset",
    "Fetch",
    "Distinct",
    "Lateral",
    "Values",
    "Table",
    "TableAlias",
    "Alias",
    "Column",
    "Identifier",
    "Star",
    "Literal",
    "Boolean",
    "Null",
    "Paren",
    "Tuple",
    "Interval",
    "Var",
    "DataType",
    "DataTypeParam",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "IntDiv",
    "Mod",
    "Neg",
    "DPipe",
    "EQ",
    "NEQ",
    "GT",
    "GTE",
    "LT",
    "LTE",
    "NullSafeEQ",
    "NullSafeNEQ",
    "And",
    "Or",
    "Not",
    "Is",
    "In",
    "Between",
    "Like",
    "ILike",
    "Exists",
    "Any",
    "All",
    "Case",
    "If",
    "Window",
    "WindowSpec",
    "Cast",
    "TryCast",
    "LimitOptions",
)

#: Functions allowed (sqlglot classes, so each is transpiled by meaning, not by name).
ALLOWED_FUNCTIONS: frozenset[type] = _classes(
    # aggregates
    "Count",
    "Sum",
    "Avg",
    "Min",
    "Max",
    "Stddev",
    "StddevPop",
    "StddevSamp",
    "Variance",
    "VariancePop",
    "CountIf",
    "LogicalAnd",
    "LogicalOr",
    "Corr",
    "CovarPop",
    "CovarSamp",
    # windows
    "RowNumber",
    "Rank",
    "DenseRank",
    "PercentRank",
    "CumeDist",
    "Ntile",
    "Lag",
    "Lead",
    "FirstValue",
    "LastValue",
    "NthValue",
    # strings
    "Lower",
    "Upper",
    "Length",
    "Substring",
    "Trim",
    "Concat",
    "ConcatWs",
    "Replace",
    "Left",
    "Right",
    "StrPosition",
    "Reverse",
    "Pad",
    "RegexpLike",
    "RegexpExtract",
    "StartsWith",
    # math
    "Abs",
    "Round",
    "Ceil",
    "Floor",
    "Pow",
    "Sqrt",
    "Ln",
    "Exp",
    "Sign",
    # dates
    "Extract",
    "CurrentDate",
    "CurrentTimestamp",
    "DateTrunc",
    "TimestampTrunc",
    "DateAdd",
    "DateSub",
    "DateDiff",
    "Year",
    "Month",
    "Day",
    "Quarter",
    "StrToDate",
    "StrToTime",
    "TimeToStr",
    "TsOrDsToDate",
    "TsOrDsAdd",
    "TsOrDsDiff",
    "TimeStrToTime",
    "TsOrDsToTimestamp",
    "Date",
    "DateStrToDate",
    # conditionals
    "Coalesce",
    "Nullif",
    "Greatest",
    "Least",
)

_ALL_ALLOWED = ALLOWED_NODES | ALLOWED_FUNCTIONS

_QUERY_ARGS = {
    "with_",
    "expressions",
    "from_",
    "joins",
    "where",
    "group",
    "having",
    "qualify",
    "order",
    "limit",
    "offset",
    "distinct",
    "this",
    "expression",
}
#: Arguments a structural node may carry; anything else set on it is refused.
ALLOWED_ARGS: dict[type, set[str]] = {
    exp.Select: _QUERY_ARGS,
    exp.Union: _QUERY_ARGS,
    exp.Intersect: _QUERY_ARGS,
    exp.Except: _QUERY_ARGS,
    exp.Subquery: {"this", "alias", "order", "limit", "offset"},
    exp.Table: {"this", "db", "catalog", "alias"},
    exp.Join: {"this", "on", "side", "kind", "using"},
    exp.Lateral: {"this", "alias"},
    exp.Star: set(),
    exp.Placeholder: set(),  # positional only: ``:name`` / ``$1`` are refused
    exp.Group: {"expressions"},
    exp.Distinct: {"expressions"},
    exp.Ordered: {"this", "desc", "nulls_first"},
    exp.Limit: {"expression", "limit_options"},
    exp.Offset: {"expression"},
    exp.Fetch: {"direction", "count", "limit_options"},
    exp.LimitOptions: {"rows"},
    exp.With: {"expressions"},
    exp.CTE: {"this", "alias"},
    exp.Column: {"this", "table"},
    exp.In: {"this", "expressions", "query"},
    exp.Values: {"expressions", "alias"},
    exp.Cast: {"this", "to", "safe"},
    exp.Count: {"this", "big_int"},
}

_JOIN_KINDS = {"", "INNER", "OUTER", "CROSS"}
_VAR_PARENTS = (exp.Extract,)


@dataclass(frozen=True)
class Limits:
    """Size limits of one query and the planning deadline (``time.monotonic()``), set for a block of
    planning with :func:`limits`; the defaults hold everywhere else (tests, tools)."""

    max_nodes: int = MAX_NODES
    max_select_items: int = MAX_SELECT_ITEMS
    max_string_chars: int = MAX_STRING_CHARS
    max_string_growth: int = MAX_STRING_GROWTH
    deadline: float | None = None
    timeout_s: float | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(max_nodes=settings.query_max_nodes, max_select_items=settings.query_max_select_items,
                   max_string_chars=settings.query_max_string_chars,
                   max_string_growth=settings.query_max_string_growth)


_LIMITS: ContextVar[Limits] = ContextVar("govfabric_query_limits", default=Limits())  # noqa: B039 (frozen)


def current_limits() -> Limits:
    return _LIMITS.get()


@contextmanager
def limits(value: Limits | None = None, *, timeout_s: float | None = None) -> Iterator[Limits]:
    """Plan under ``value`` (default: the current limits), with a deadline ``timeout_s`` from now."""
    value = value or _LIMITS.get()
    if timeout_s is not None:
        value = replace(value, deadline=time.monotonic() + timeout_s, timeout_s=timeout_s)
    token = _LIMITS.set(value)
    try:
        yield value
    finally:
        _LIMITS.reset(token)


def check_deadline(stage: str = "planning") -> None:
    """Refuse when the query's time budget is spent (planning runs in-process, so it is checked
    between steps and every few hundred nodes; the size limits bound each step)."""
    lim = _LIMITS.get()
    if lim.deadline is not None and time.monotonic() > lim.deadline:
        raise QueryRejected(
            f"{stage} the query took longer than {lim.timeout_s:g} s (the query timeout, which covers "
            "planning and running); make the query smaller"
        )


@dataclass
class Binding:
    """Table references found in one query: virtual ones (by node) and CTE references."""

    virtual: list[tuple[exp.Table, str]] = field(default_factory=list)
    cte_refs: list[exp.Table] = field(default_factory=list)


def parse_sql(sql: str, dialect: str | None) -> exp.Query:
    """Parse exactly one query statement; everything else is refused."""
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRejected(f"query is {len(sql)} characters; the limit is {MAX_SQL_CHARS}")
    depth = deepest = 0
    for ch in sql:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    if deepest > MAX_PAREN_DEPTH:
        raise QueryRejected(f"query nests parentheses {deepest} deep; the limit is {MAX_PAREN_DEPTH}")
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the Command fallback warning is ours to report
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect or "duckdb") if s is not None]
    except (ParseError, TokenError) as err:
        raise QueryRejected(f"could not parse the query as {dialect or 'duckdb'} SQL: {err}") from None
    except RecursionError:
        raise QueryRejected("query is nested too deeply to parse") from None
    except ValueError as err:  # unknown dialect
        raise QueryRejected(str(err)) from None
    finally:
        logger.setLevel(level)
    if len(statements) != 1:
        raise QueryRejected(f"send exactly one statement; got {len(statements)}")
    stmt = statements[0]
    if isinstance(stmt, exp.Command):
        raise QueryRejected(
            f"statement {stmt.name.upper()} is not understood or not allowed; only SELECT queries are"
        )
    if not isinstance(stmt, exp.Query):
        raise QueryRejected(f"only SELECT queries are allowed, not {stmt.key.upper()}")
    return stmt


def _name(node: exp.Expression) -> str:
    if isinstance(node, exp.Pad):
        return "LPAD" if node.args.get("is_left") else "RPAD"
    if isinstance(node, exp.DPipe):
        return "|| (concatenation)"
    if isinstance(node, exp.Func):
        return node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
    return node.key.upper()


class Validator:
    """One pass over the tree: node allow-list, argument allow-list, limits and table binding."""

    def __init__(self) -> None:
        self.nodes = 0
        self.binding = Binding()
        self.limits = current_limits()

    def run(self, root: exp.Expression, ctes: frozenset[str] = frozenset()) -> Binding:
        self._visit(root, ctes, 0)
        check_deadline()
        return self.binding

    def _visit(self, node: exp.Expression, ctes: frozenset[str], depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise QueryRejected(
                f"query has more than {self.limits.max_nodes:,} syntax nodes (setting query_max_nodes); "
                "simplify it"
            )
        if self.nodes % DEADLINE_EVERY == 0:
            check_deadline()
        if depth > MAX_DEPTH:
            raise QueryRejected(f"query is nested more than {MAX_DEPTH} levels deep; simplify it")
        node.comments = None  # user comments never reach the engine
        self._check_node(node)
        if isinstance(node, exp.Table):
            self._bind_table(node, ctes)
            alias = node.args.get("alias")
            if alias is not None:
                self._visit(alias, ctes, depth + 1)
            return
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None:
            if with_.args.get("recursive"):
                raise QueryRejected("recursive CTEs (WITH RECURSIVE) are not allowed")
            self._check_node(with_)
            scope = set(ctes)
            for cte in with_.expressions:
                self._check_node(cte)
                self._visit(cte.this, frozenset(scope), depth + 2)
                alias = cte.args.get("alias")
                if alias is not None:
                    self._visit(alias, frozenset(scope), depth + 2)
                scope.add(cte.alias_or_name.lower())
            ctes = frozenset(scope)
        for key, value in node.args.items():
            if key == "with_" or value is None:
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    self._visit(child, ctes, depth + 1)

    def _check_node(self, node: exp.Expression) -> None:
        cls = type(node)
        if cls not in _ALL_ALLOWED:
            if isinstance(node, exp.Func):
                raise QueryRejected(
                    f"function {_name(node)} is not on the allow-list of functions for virtual SQL"
                )
            raise QueryRejected(f"{_name(node)} is not allowed in virtual SQL")
        allowed = ALLOWED_ARGS.get(cls)
        if allowed is not None:
            for key, value in node.args.items():
                if value in (None, False, []) or key in allowed:
                    continue
                raise QueryRejected(_arg_message(node, key))
        if isinstance(node, exp.Join):
            kind = (node.args.get("kind") or "").upper()
            if kind not in _JOIN_KINDS:
                raise QueryRejected(f"{kind} JOIN is not portable across engines; use EXISTS / NOT EXISTS")
        elif isinstance(node, exp.Var):
            parent = node.parent
            if not (node.arg_key == "unit" or isinstance(parent, _VAR_PARENTS)):
                raise QueryRejected(f"keyword {node.name} is not allowed here")
        elif isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
            raise QueryRejected("LATERAL is allowed only over a subquery")
        elif isinstance(node, exp.Select):
            self._check_qualify(node)
            items = len(node.expressions)
            if items > self.limits.max_select_items:
                raise QueryRejected(
                    f"a SELECT lists {items:,} items; the limit is {self.limits.max_select_items:,} "
                    "(setting query_max_select_items): select fewer columns or split the query"
                )

    @staticmethod
    def _check_qualify(node: exp.Select) -> None:
        if node.args.get("qualify") is not None and any(
            node.args.get(k) for k in ("order", "limit", "offset")
        ):
            raise QueryRejected(
                "QUALIFY together with ORDER BY / LIMIT / OFFSET is transpiled wrongly for Trino; "
                "wrap the QUALIFY query in a subquery and order or limit outside it"
            )

    def _bind_table(self, table: exp.Table, ctes: frozenset[str]) -> None:
        if not isinstance(table.this, exp.Identifier):
            raise QueryRejected(
                f"table functions are not allowed ({_name(table.this)}); query catalog names only"
            )
        for part in (table.args.get("db"), table.args.get("catalog")):
            if part is not None and not isinstance(part, exp.Identifier):
                raise QueryRejected("table names must be plain schema.table identifiers")
        name = table.name
        if table.args.get("catalog") is not None:
            raise QueryRejected(
                f"{table.sql()} is a three-part (physical) name; query virtual schema.table names"
            )
        if not table.db:
            if name.lower() in ctes:
                self.binding.cte_refs.append(table)
                return
            if "/" in name or "." in name or "\\" in name or ":" in name:
                raise QueryRejected(f"file paths are not tables ({name!r}); query catalog names only")
            raise QueryRejected(f"unknown table {name}: virtual names have the form schema.table")
        alias = table.args.get("alias")
        if alias is not None and alias.args.get("columns"):
            raise QueryRejected(
                f"column aliases on {table.db}.{name} are not allowed; alias columns in SELECT"
            )
        full = f"{table.db}.{name}".lower()
        self.binding.virtual.append((table, full))


def _arg_message(node: exp.Expression, key: str) -> str:
    what = {
        ("Group", "all"): "GROUP BY ALL (DuckDB only); list the grouping columns",
        ("Star", "except_"): "* EXCLUDE / * EXCEPT (engine-specific); list the columns",
        ("Star", "replace"): "* REPLACE (engine-specific); list the columns",
        ("Star", "rename"): "* RENAME (engine-specific); list the columns",
        ("Join", "method"): "NATURAL / POSITIONAL / ASOF joins; join with ON or USING",
        ("Union", "by_name"): "UNION BY NAME (DuckDB only); align the columns",
        ("Distinct", "on"): "DISTINCT ON (not portable); use ROW_NUMBER() in a subquery",
        ("Select", "sample"): "table samples",
        ("Table", "sample"): "table samples",
        ("Select", "into"): "SELECT INTO",
        ("Select", "locks"): "FOR UPDATE / FOR SHARE",
        ("Column", "db"): "column references with more than two parts (or struct field access)",
        ("Table", "when"): "time travel (AT / FOR SYSTEM_TIME)",
        ("LimitOptions", "percent"): "LIMIT … PERCENT",
        ("LimitOptions", "with_ties"): "FETCH … WITH TIES",
    }.get((type(node).__name__, key))
    if what is None:
        what = f"{key.rstrip('_').upper()} in {type(node).__name__.upper()}"
    return f"{what} is not allowed in virtual SQL"


def is_system_name(name: str) -> bool:
    """Whether a (virtual) name looks like an engine system catalog (refused with a clear message)."""
    head = name.lower().split(".", 1)[0]
    tail = name.lower().rsplit(".", 1)[-1]
    return head in SYSTEM_SCHEMAS or any(
        part.startswith(("pg_", "duckdb_", "sqlite_")) for part in (head, tail)
    )


# -- how long strings can grow -------------------------------------------------------------

#: A bound on a string's length in characters: ``factor`` × the longest stored value + ``extra``.
Bound = tuple[int, int]
_BASE: Bound = (1, 0)
_NONE: Bound = (0, 0)


def check_string_sizes(root: exp.Query) -> None:
    """Refuse a query whose string functions could build values over the limits.

    DuckDB builds strings outside its buffer manager, so ``lpad(x, 100000000)`` over a table
    outgrows any memory limit before the query timeout can act. Each string a query computes is
    bounded statically, through CTEs, subqueries and expanded views: ``lpad``/``rpad`` need a
    literal length ≤ ``query_max_string_chars``; ``replace`` a literal replacement; and no
    concatenation or replacement may make a value more than ``query_max_string_growth`` times
    the longest stored value plus ``query_max_string_chars`` characters.
    """
    _StringBounds(current_limits()).query(root, {}, _NONE)
    check_deadline()


def _join(*bounds: Bound) -> Bound:
    return (max((b[0] for b in bounds), default=0), max((b[1] for b in bounds), default=0))


class _StringBounds:
    def __init__(self, lim: Limits) -> None:
        self.lim = lim

    def query(self, node: exp.Expression, env: dict[str, Bound], outer: Bound) -> Bound:
        """The bound of any output column of ``node`` (a query, subquery or VALUES)."""
        if isinstance(node, exp.Subquery):
            return self.query(node.this, env, outer)
        with_ = node.args.get("with_")
        if with_ is not None:
            env = dict(env)
            for cte in with_.expressions:
                env[cte.alias_or_name.lower()] = self.query(cte.this, env, outer)
        if isinstance(node, exp.SetOperation):
            return _join(self.query(node.this, env, outer), self.query(node.expression, env, outer))
        if not isinstance(node, exp.Select):  # VALUES
            return _join(*(self.expr(c, outer, env) for c in node.iter_expressions()))
        sources = [self._source(s, env, outer) for s in self._sources(node)]
        cols = _join(outer, *sources)
        bound = _NONE
        for key, value in node.args.items():
            if key in ("with_", "from_", "joins") or value is None:
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    b = self.expr(child, cols, env)
                    if key == "expressions":
                        bound = _join(bound, b)
        for join in node.args.get("joins") or []:
            for key in ("on", "using"):
                if join.args.get(key) is not None:
                    for child in join.args[key] if isinstance(join.args[key], list) else [join.args[key]]:
                        self.expr(child, cols, env)
        return bound

    @staticmethod
    def _sources(select: exp.Select) -> list[exp.Expression]:
        from_ = select.args.get("from_")
        found = [from_.this] if from_ is not None else []
        return found + [j.this for j in select.args.get("joins") or []]

    def _source(self, src: exp.Expression, env: dict[str, Bound], outer: Bound) -> Bound:
        if isinstance(src, exp.Table):
            return _BASE if src.db else env.get(src.name.lower(), _BASE)
        if isinstance(src, exp.Lateral):
            return self.query(src.this, env, outer)
        return self.query(src, env, outer)

    def expr(self, node: exp.Expression, cols: Bound, env: dict[str, Bound]) -> Bound:
        if isinstance(node, exp.Query | exp.Subquery | exp.Values):
            return self.query(node, env, cols)
        if isinstance(node, exp.Column):
            return cols
        if isinstance(node, exp.Literal):
            return (0, len(node.this))
        if isinstance(node, exp.Pad):
            for child in (node.this, node.args.get("fill_pattern")):
                if child is not None:
                    self.expr(child, cols, env)
            return (0, self._pad_length(node))
        kids = [self.expr(c, cols, env) for c in node.iter_expressions()]
        if isinstance(node, exp.Replace):
            return self._grown(node, self._replaced(node, kids[0] if kids else _NONE))
        if isinstance(node, exp.Concat | exp.ConcatWs | exp.DPipe):
            if isinstance(node, exp.ConcatWs) and kids:  # the separator goes between every two values
                kids = [*kids[1:], (kids[0][0] * max(0, len(kids) - 2), kids[0][1] * max(0, len(kids) - 2))]
            return self._grown(node, (sum(k[0] for k in kids), sum(k[1] for k in kids)))
        return _join(*kids)

    def _pad_length(self, node: exp.Pad) -> int:
        name, size = _name(node), node.expression
        if not (isinstance(size, exp.Literal) and size.is_int):
            raise QueryRejected(f"{name}: the length must be a whole-number literal (at most "
                                f"{self.lim.max_string_chars:,}, setting query_max_string_chars)")
        n = int(size.this)
        if n > self.lim.max_string_chars:
            raise QueryRejected(f"{name} to {n:,} characters is over the limit of {self.lim.max_string_chars:,} "
                                "(setting query_max_string_chars)")
        return max(n, 0)

    def _replaced(self, node: exp.Replace, value: Bound) -> Bound:
        search, repl = node.expression, node.args.get("replacement")
        if repl is None:
            return value
        if not (isinstance(repl, exp.Literal) and repl.is_string):
            raise QueryRejected("REPLACE: the replacement must be a string literal (a computed one could "
                                "grow the value without bound)")
        width = len(search.this) if isinstance(search, exp.Literal) and search.is_string else 1
        k = max(1, math.ceil(len(repl.this) / max(1, width)))
        return (value[0] * k, value[1] * k)

    def _grown(self, node: exp.Expression, bound: Bound) -> Bound:
        factor, extra = bound
        if factor > self.lim.max_string_growth or extra > self.lim.max_string_chars:
            size = " + ".join(([f"{factor:,}× the longest stored value"] if factor else [])
                              + ([f"{extra:,} characters"] if extra else []))
            raise QueryRejected(
                f"{_name(node)} could build strings of {size}; the limits are {self.lim.max_string_growth}× "
                f"(setting query_max_string_growth) + {self.lim.max_string_chars:,} characters "
                "(setting query_max_string_chars)"
            )
        return bound
