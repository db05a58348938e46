"""Direct to the source: a query whose tables all live in one PostgreSQL database runs there whole.

The plan is the pipeline's, unchanged in what it allows and hides: parsed, validated, authorised
and policy-rewritten for DuckDB (grants, masks and row filters are in the tree), then retargeted
here — physical names lose DuckDB's attach alias, DuckDB's HMAC construction becomes
PostgreSQL's (plain SQL: ``sha256``, ``decode``, ``convert_to``; no extension) — and transpiled
to the source's dialect. It runs on a pooled, read-only connection with a statement timeout.

Anything whose meaning could differ on the source is refused with :class:`NotDirect` (the caller
falls back to DuckDB or Trino): tables of several sources, a kind without a direct reader, a
function outside a short list known to agree (HMAC-SM3 and regular-expression masks included),
division, window functions, and ordering comparisons of text where the database's collation does
not sort by code point as DuckDB does. A mask is never weakened: it runs as written, or not here.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from govfabric.errors import ConfigError, QueryRejected, SourceError
from govfabric.virtualization.engines.base import Binding, Engine, SourceConnector, SqlAccess

if TYPE_CHECKING:
    from govfabric.catalog.models import Source
    from govfabric.virtualization.pipeline import PlannedQuery

#: source kind → sqlglot dialect of the kinds a query can be pushed to whole
DIRECT_KINDS: dict[str, str] = {"postgresql": "postgres"}
#: the leading comment naming the source a planned query runs on (generated, never from a user)
_HEAD = re.compile(r"^/\* govfabric direct: ([a-z][a-z0-9_]{0,62}) \*/ ")
BATCH_ROWS = 10_000
POOL_MAX = 8
CONNECT_TIMEOUT_S = 5.0
#: collations under which PostgreSQL orders text by code point, as DuckDB does
CODEPOINT_COLLATIONS = frozenset({"c", "posix", "c.utf-8", "c.utf8", "ucs_basic"})

#: functions that mean the same on DuckDB and PostgreSQL for the values the pipeline gives them
#: (the masks' building blocks, casts, counting); any other function keeps a query off the source
SAFE_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Cast, exp.Substring, exp.Length, exp.Pad, exp.StrPosition, exp.Extract, exp.Count, exp.Lower,
    exp.Upper, exp.Coalesce, exp.Case, exp.If, exp.StartsWith, exp.And, exp.Or, exp.Exists,
)  # fmt: skip
#: DuckDB's HMAC construction (masks.py ``_hash``) in PostgreSQL terms; the key stays a literal
#: of the plan, as on DuckDB (never logged: the query log stores a digest of the user's SQL)
_HMAC_PARTS = {"sha256", "unhex", "encode"}
#: nodes with no guaranteed-equal meaning on the source
_REFUSED: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Div, "division"), (exp.IntDiv, "division"), (exp.Window, "a window function"),
    (exp.RegexpLike, "a regular expression"), (exp.RegexpExtract, "a regular expression"),
    (exp.Collate, "a collation"), (exp.TryCast, "TRY_CAST"), (exp.Bracket, "an index"),
)
#: PostgreSQL types whose text form is DuckDB's too (not floats, times with zones, intervals…)
TEXT_ALIKE = frozenset({"int2", "int4", "int8", "numeric", "text", "varchar", "bpchar", "name", "date", "bool"})
_ORDERING = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)


class NotDirect(QueryRejected):
    """The query cannot run whole on its source with the same result; run it on DuckDB or Trino."""


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _hmac_to_postgres(root: exp.Expr) -> None:
    """DuckDB's ``sha256`` (hex text), ``unhex`` and ``encode`` as PostgreSQL spells them."""
    for node in list(root.find_all(exp.Anonymous)):
        name, args = node.name.lower(), node.expressions
        if name not in _HMAC_PARTS or len(args) != 1:
            raise NotDirect(f"the function {node.name} has no checked equivalent on the source")
        arg = args[0]
        if name == "sha256":
            node.replace(_fn("encode", _fn("sha256", arg), exp.Literal.string("hex")))
        elif name == "unhex":
            node.replace(_fn("decode", arg, exp.Literal.string("hex")))
        else:
            node.replace(_fn("convert_to", arg, exp.Literal.string("UTF8")))


def check_functions(root: exp.Expr) -> None:
    """Refuse what could mean something else on the source (see the module's docstring)."""
    for cls, what in _REFUSED:
        if root.find(cls) is not None:
            raise NotDirect(f"the query uses {what}, which the source may compute differently")
    for node in root.find_all(exp.Func):
        if isinstance(node, exp.Anonymous) or isinstance(node, SAFE_FUNCTIONS):
            continue
        raise NotDirect(f"the function {node.sql('duckdb')[:40]} has no checked equivalent on the source")


#: what a placeholder is generated as before ``%`` is doubled for psycopg (never in generated SQL)
_PARAM = "gf_param_4f1c9e"


def _source_sql(root: exp.Expr, dialect: str) -> str:
    """The tree in the source's dialect for psycopg: each placeholder ``%s`` (bound to a typed value
    when run), every other ``%`` doubled (``LIKE 'a%'``, modulo), so no text is read as a parameter."""
    tree = root.copy()
    count = 0
    for node in list(tree.find_all(exp.Placeholder)):
        node.replace(exp.Var(this=_PARAM))
        count += 1
    try:
        text = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise NotDirect(f"the query cannot be expressed for {dialect}: {err}") from None
    if text.count(_PARAM) != count:  # the marker in the query's own text: never guess
        raise NotDirect("the query's text cannot be parameterised for the source")
    return text.replace("%", "%%").replace(_PARAM, "%s")


def _nulls_for_placeholders(root: exp.Expr) -> exp.Expr:
    """The tree with NULL for each placeholder: the source types a plan without the values."""
    tree = root.copy()
    for node in list(tree.find_all(exp.Placeholder)):
        node.replace(exp.Null())
    return tree


def _no_escape(root: exp.Expr) -> None:
    """DuckDB's LIKE has no escape character; PostgreSQL's is ``\\`` unless told otherwise."""
    for like in list(root.find_all(exp.Like, exp.ILike)):
        if not isinstance(like.parent, exp.Escape):
            like.replace(exp.Escape(this=like.copy(), expression=exp.Literal.string("")))


class DirectEngine(Engine):
    NAME: ClassVar[str] = "direct"
    DIALECT: ClassVar[str] = "postgres"
    SOURCE_KINDS: ClassVar[frozenset[str]] = frozenset(DIRECT_KINDS)
    SUPPORTS_FEDERATION: ClassVar[bool] = False
    PLANS_AS: ClassVar[str | None] = "duckdb"

    def __init__(self, settings: Any, connector: SourceConnector) -> None:
        super().__init__(settings, connector)
        self._pools: dict[str, tuple[str, Any]] = {}  # source name → (connection key, pool)
        self._collation: dict[str, bool] = {}  # source name → orders text by code point
        self._timeouts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._pool_lock = threading.Lock()

    @classmethod
    def physical_ref(cls, binding: Binding) -> tuple[str, str, str] | None:
        if binding.source.kind not in DIRECT_KINDS:
            return None
        loc = binding.asset.location or {}
        return (binding.source.name, loc.get("schema", "public"), loc.get("table", binding.asset.name))

    @classmethod
    def configured(cls, settings: Any) -> bool:
        try:
            import psycopg_pool  # noqa: F401
        except ImportError:
            return False
        return True

    # -- planning -------------------------------------------------------------------------------

    def retarget(self, planned: PlannedQuery, bindings: list[Binding]) -> PlannedQuery:
        """The DuckDB plan as the one source runs it, or :class:`NotDirect`."""
        from govfabric.virtualization.engines.duckdb import DuckDBEngine

        sources = {b.source.name: b.source for b in bindings}
        if len(sources) != 1:
            raise NotDirect("the query reads tables of several sources" if sources else "the query reads no table")
        src = next(iter(sources.values()))
        dialect = DIRECT_KINDS.get(src.kind)
        if dialect is None:
            raise NotDirect(f"source {src.name} is {src.kind}; queries run on it through DuckDB or Trino")
        if planned.expression is None:
            raise NotDirect("the plan holds no tree to retarget")
        root = planned.expression.copy()
        alias = DuckDBEngine.alias(src.name)
        for table in root.find_all(exp.Table):
            if not table.args.get("db"):
                continue  # a CTE reference
            if table.catalog != alias:
                raise NotDirect(f"the query reads {table.catalog}, outside source {src.name}")
            table.set("catalog", None)
        _hmac_to_postgres(root)
        check_functions(root)
        if any(isinstance(n, _ORDERING) for n in root.walk()) or root.find(exp.Order, exp.Max, exp.Min):
            if not self._orders_by_codepoint(src):
                raise NotDirect(f"source {src.name} sorts text by its collation, not by code point as DuckDB does")
        _no_escape(root)
        text = _source_sql(root, dialect)
        self._check_result_types(src, _source_sql(_nulls_for_placeholders(root), dialect))
        self._check_text_casts(src, _nulls_for_placeholders(root), dialect)
        return replace(planned, expression=root, sql=f"/* govfabric direct: {src.name} */ {text}", engine=self.NAME)

    def _check_result_types(self, src: Source, text: str) -> None:
        """Let the source plan the query once (no rows): it must accept it, and every result column
        must have a type read as DuckDB reads it (json, arrays, uuid… stay with DuckDB)."""
        import psycopg

        self.prepare_source(src)
        try:
            with self._pools[src.name][1].connection() as con, con.cursor() as cur:
                cur.execute(f"SELECT * FROM ({text}) AS gf_q LIMIT 0", ())  # noqa: S608 (generated SQL; () reads %%)
                arrow_schema(con, cur.description, strict=True)
        except psycopg.Error as exc:
            raise NotDirect(f"source {src.name} does not accept the query as generated "
                            f"({type(exc).__name__})") from None

    def _check_text_casts(self, src: Source, root: exp.Expr, dialect: str) -> None:
        """A value cast to text (masks do it to non-text columns) must be of a type both databases
        print alike: PostgreSQL prints the double 2.0 as ``2``, DuckDB as ``2.0``."""
        import psycopg

        for cast in root.find_all(exp.Cast):
            if not cast.to.is_type(*exp.DataType.TEXT_TYPES) or isinstance(cast.this, exp.Literal):
                continue
            select = cast.find_ancestor(exp.Select)
            source = select.args.get("from_") if select is not None else None
            if select is None or source is None:
                raise NotDirect("a value cast to text has no table to type it by")
            probe = exp.select(exp.alias_(cast.this.copy(), "v"))
            probe.set("from_", source.copy())
            probe.set("joins", [j.copy() for j in select.args.get("joins") or []])
            try:
                with self._pools[src.name][1].connection() as con, con.cursor() as cur:
                    cur.execute(probe.limit(0).sql(dialect))
                    info = con.adapters.types.get(cur.description[0].type_code)
            except psycopg.Error as exc:
                raise NotDirect(f"source {src.name} cannot type a value cast to text ({type(exc).__name__})") from None
            if info is None or info.name not in TEXT_ALIKE:
                raise NotDirect(f"a {info.name if info else 'value'} cast to text reads differently on the source")

    def _orders_by_codepoint(self, src: Source) -> bool:
        if src.name not in self._collation:
            self.prepare_source(src)
            with self._pools[src.name][1].connection() as con:
                row = con.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()").fetchone()
            self._collation[src.name] = bool(row) and str(row[0]).lower() in CODEPOINT_COLLATIONS
        return self._collation[src.name]

    # -- connections ----------------------------------------------------------------------------

    def prepare(self, bindings: list[Binding]) -> None:
        for src in {b.source.name: b.source for b in bindings}.values():
            self.prepare_source(src)

    def prepare_source(self, src: Source) -> None:
        """A pool for the source (again when its URI or password changed since)."""
        if src.kind not in DIRECT_KINDS:
            raise NotDirect(f"source {src.name} is {src.kind}; queries run on it through DuckDB or Trino")
        key = f"{src.uri}:{hashlib.sha256((src.secret or '').encode()).hexdigest()[:12]}"
        with self._pool_lock:
            held = self._pools.get(src.name)
            if held is not None and held[0] == key:
                return
            pool = self._open_pool(src)
            self._pools[src.name] = (key, pool)
            self._collation.pop(src.name, None)
        if held is not None:
            held[1].close()

    def _open_pool(self, src: Source) -> Any:
        """Read-only sessions with the query timeout, opened from the source's fields (the password
        from the SecretBox, only here, never in a string that is logged or kept)."""
        from psycopg_pool import ConnectionPool

        from govfabric.catalog.sources.base import connection_params
        from govfabric.catalog.sources.postgresql import PG_OPTIONS

        params = connection_params(src.uri, src.secret, self.connector.secrets)
        timeout_ms = int(self.settings.query_timeout_s * 1000)
        extra = {k: v for k, v in params.options.items()
                 if k in PG_OPTIONS and k not in ("options", "application_name")}
        kwargs = {"host": params.host, "port": params.port, "user": params.user, "dbname": params.database,
                  "password": params.password, "autocommit": True, "application_name": "govfabric-direct",
                  "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}", **extra}
        pool = ConnectionPool("", kwargs={k: v for k, v in kwargs.items() if v is not None}, min_size=1,
                              max_size=POOL_MAX, open=False, name=f"govfabric-direct-{src.name}")
        pool.open()
        try:
            pool.wait(timeout=CONNECT_TIMEOUT_S)
        except Exception:
            pool.close()
            raise SourceError(f"source {src.name} cannot be reached for a direct query; check it with "
                              f"`govfabric source test {src.name}`") from None
        return pool

    # -- running --------------------------------------------------------------------------------

    def _batches(self, sql: str, timeout_s: float, params: Sequence[Any] = ()) -> Iterator[pa.RecordBatch]:
        import psycopg

        head = _HEAD.match(sql)
        held = self._pools.get(head.group(1)) if head else None
        if held is None:
            raise NotDirect("the query was not planned for the direct engine; plan it with engine='direct'")
        t0 = time.perf_counter()
        try:
            with held[1].connection() as con:
                self._set_timeout(con, timeout_s)
                with con.cursor() as cur:
                    schema: pa.Schema | None = None
                    for rows in _chunks(cur, sql, params):
                        if schema is None:
                            schema = arrow_schema(con, cur.description)
                        yield _batch(schema, rows)
        except psycopg.errors.QueryCanceled:
            raise QueryRejected(f"the query ran longer than {timeout_s:g} s (the query timeout) and was "
                                "stopped; filter or aggregate more") from None
        except psycopg.OperationalError:
            raise SourceError(f"source {head.group(1) if head else '?'} failed during a direct query; check it "
                              "with `govfabric source test`") from None
        finally:
            self.stats.total_ms += (time.perf_counter() - t0) * 1000

    def _set_timeout(self, con: Any, timeout_s: float) -> None:
        """The statement timeout this call has left (set only when it changed on the connection)."""
        ms = max(100, int(timeout_s * 1000))
        if self._timeouts.get(con) != ms:
            con.execute(f"SET statement_timeout = {ms}")
            self._timeouts[con] = ms

    def sqlalchemy(self, bindings: list[Binding], *, timeout_s: float, application: str) -> SqlAccess:
        raise ConfigError("the direct engine runs planned queries only; use --engine duckdb or trino")

    def status(self) -> dict[str, Any]:
        pools = {name: {k: v for k, v in pool.get_stats().items() if k.startswith("pool_")}
                 for name, (_, pool) in self._pools.items()}
        return {"engine": self.NAME, "reachable": True, "kinds": sorted(DIRECT_KINDS), "pools": pools}

    def close(self) -> None:
        with self._pool_lock:
            for _, pool in self._pools.values():
                pool.close()
            self._pools.clear()


def _chunks(cur: Any, sql: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in batches; the first batch may be empty so that an empty result still has a schema.
    Always with a parameter list: the planned text doubles ``%`` (``_source_sql``)."""
    cur.execute(sql, list(params))
    rows = cur.fetchmany(BATCH_ROWS)
    while rows:
        yield rows
        rows = cur.fetchmany(BATCH_ROWS)


#: PostgreSQL type → Arrow type, as DuckDB's postgres scanner reads them
_ARROW = {
    "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(), "float4": pa.float32(), "float8": pa.float64(),
    "bool": pa.bool_(), "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "name": pa.string(),
    "date": pa.date32(), "timestamp": pa.timestamp("us"), "time": pa.time64("us"), "bytea": pa.binary(),
}


def arrow_schema(con: Any, description: Any, *, strict: bool = False) -> pa.Schema:
    """The result's Arrow schema; ``strict``: refuse a type without a mapping (else read as text)."""
    fields = []
    for col in description:
        info = con.adapters.types.get(col.type_code)
        name = info.name if info is not None else ""
        if name == "numeric":  # DuckDB: numeric(p ≤ 38, s) is DECIMAL(p, s), any other numeric DOUBLE
            ok = col.precision is not None and col.precision <= 38
            typ = pa.decimal128(col.precision, col.scale or 0) if ok else pa.float64()
        elif name in _ARROW:
            typ = _ARROW[name]
        elif strict:
            raise NotDirect(f"the result column {col.name} has type {name or col.type_code}, "
                            "which DuckDB reads differently")
        else:
            typ = pa.string()
        fields.append(pa.field(col.name, typ))
    return pa.schema(fields)


def _batch(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    columns = []
    for i, f in enumerate(schema):
        values = [r[i] for r in rows]
        if pa.types.is_floating(f.type):
            values = [float(v) if isinstance(v, Decimal) else v for v in values]
        elif pa.types.is_string(f.type):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        columns.append(pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
