"""Conditional query services: a steward publishes a named lookup over a virtual table; callers
(business systems, people) call it with typed parameters and page through the answer.

A call never writes SQL text from its input: every condition becomes a typed sqlglot literal
(cast to the column's type) in a SELECT tree over the virtual table, and the tree runs through
the façade's virtual SQL (``fabric.queries``) as the caller — grants, masks, row filters, the
query log and catalog usage apply unchanged. Pages are keyset pages on the service's unique order
key; the page token is sealed (AES-GCM, a key derived for this purpose) and bound to the service,
its version, the caller and the call's conditions, with an expiry.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import os
import re
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import select
from sqlglot import exp

from govfabric.auth.audit import Entry, append
from govfabric.auth.readpath import require_steward
from govfabric.catalog.read import asset_by_id
from govfabric.errors import AlreadyExists, GovfabricError, NotFound, ValidationFailed
from govfabric.sharing_modes.query_api.models import QueryService as ServiceRow
from govfabric.virtualization import cache
from govfabric.virtualization.read import definition, view_dependencies
from govfabric.virtualization.types import value_kind

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.fabric import Fabric
    from govfabric.virtualization.read import Definition

OPS = ("eq", "in", "range", "prefix")
#: the parameter suffixes a call may use, and the operator each needs
SUFFIXES = {"": "eq", "eq": "eq", "in": "in", "gte": "range", "lte": "range", "prefix": "prefix"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PARAM_RE = re.compile(r"^([a-z_\u4e00-\u9fff][a-z0-9_\u4e00-\u9fff]{0,127})(?:\.([a-z]{1,8}))?$")
MAX_VALUE_CHARS = 1024  # one value
MAX_IN_VALUES = 100
MAX_PAGE_SIZE = 10_000  # the largest cap a steward may set
TOKEN_TTL_S = 3600
TOKEN_MAX_CHARS = 4096
RESERVED = ("page_token", "page_size")


class PageTokenInvalid(GovfabricError):
    """A page token that was not issued for this service, caller and conditions, or expired."""

    status = 400


@dataclass(frozen=True)
class Page:
    """One page of a call: the rows (an Arrow table of the service's columns) and the token for
    the next page (None on the last)."""

    table: pa.Table
    next_page_token: str | None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()


@dataclass(frozen=True)
class _Column:
    name: str
    type: exp.DataType
    kind: str  # text | int | number | date | timestamp | bool

    def parse(self, raw: str, param: str) -> Any:
        """The Python value of ``raw`` for this column, or ValidationFailed naming the parameter
        (never echoing the value)."""
        try:
            if self.kind == "text":
                return raw
            if self.kind == "int":
                if not re.fullmatch(r"[+-]?\d{1,19}", raw):
                    raise ValueError
                return int(raw)
            if self.kind == "number":
                if not re.fullmatch(r"[+-]?(\d{1,38}(\.\d{0,38})?|\.\d{1,38})([eE][+-]?\d{1,3})?", raw):
                    raise ValueError
                d = Decimal(raw)
                if not d.is_finite():
                    raise ValueError
                return d
            if self.kind == "date":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                    raise ValueError
                return date.fromisoformat(raw)
            if self.kind == "timestamp":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?", raw):
                    raise ValueError
                return datetime.fromisoformat(raw)
            if self.kind == "bool":
                low = raw.lower()
                if low not in ("true", "false"):
                    raise ValueError
                return low == "true"
        except (ValueError, InvalidOperation, OverflowError):
            pass
        raise ValidationFailed(f"parameter {param} is not a valid {_KIND_NAMES[self.kind]}; "
                               f"give {_KIND_EXAMPLES[self.kind]}")

    def param(self, value: Any, params: list[Any]) -> exp.Expression:
        """A typed placeholder (``?``, cast to the column's type but for text and booleans) whose
        value is appended to ``params``: the query's text, and so its cached plan, is the same
        whatever the value (``QueryService.stream(params=…)``)."""
        params.append(value)
        if self.kind in ("text", "bool"):
            return exp.Placeholder()
        return exp.Cast(this=exp.Placeholder(), to=self.type.copy())

    def literal(self, value: Any) -> exp.Expression:
        """A typed literal: strings as string literals, everything else cast to the column's type."""
        if self.kind == "text":
            return exp.Literal.string(value)
        if self.kind == "bool":
            return exp.Boolean(this=bool(value))
        if self.kind in ("int", "number"):
            lit = exp.Literal.number(str(value))
        else:
            lit = exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat())
        return exp.Cast(this=lit, to=self.type.copy())

    def to_token(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value)


_KIND_NAMES = {"int": "integer", "number": "number", "date": "date", "timestamp": "timestamp",
               "bool": "boolean", "text": "text"}
_KIND_EXAMPLES = {"int": "digits, e.g. 42", "number": "a decimal number, e.g. 12.5", "date": "YYYY-MM-DD",
                  "timestamp": "YYYY-MM-DDTHH:MM:SS", "bool": "true or false", "text": "text"}



def _columns_of(vt_columns: list[dict[str, Any]]) -> dict[str, _Column]:
    """The visible columns of a virtual table with their types (unknown types are not filterable)."""
    out = {}
    for c in vt_columns:
        if c.get("hidden"):
            continue
        try:
            dtype = exp.DataType.build(c.get("type") or "VARCHAR", dialect="duckdb")
        except Exception:  # a source type sqlglot does not know: listed, never filtered on
            dtype = exp.DataType.build("UNKNOWN")
        kind = value_kind(dtype)
        out[c["name"]] = _Column(c["name"], dtype, kind if kind in _KIND_NAMES else "other")  # no blob parameters
    return out


def clean_value(raw: str, param: str) -> str:
    """Refuse what is never a legitimate lookup value: too long, control or format characters
    (NUL, bidi overrides, zero-width joiners), surrogates, unassigned code points. NFC-normalised."""
    if not isinstance(raw, str):
        raise ValidationFailed(f"parameter {param} must be text")
    if len(raw) > MAX_VALUE_CHARS:
        raise ValidationFailed(f"parameter {param} is longer than {MAX_VALUE_CHARS} characters")
    if raw == "":
        raise ValidationFailed(f"parameter {param} is empty; give a value or leave the parameter out")
    if "\ufffd" in raw:
        raise ValidationFailed(f"parameter {param} is not valid UTF-8; send the value UTF-8 encoded")
    for ch in raw:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ValidationFailed(f"parameter {param} holds a control or invisible character "
                                   f"(U+{ord(ch):04X}); send the plain value")
    return unicodedata.normalize("NFC", raw)


@dataclass(frozen=True)
class _Call:
    """A call's conditions, validated: column -> op -> values (for range: {"gte": v, "lte": v})."""

    conditions: dict[str, dict[str, Any]]
    names: tuple[str, ...]  # the parameter names given, for the audit
    values: dict[str, list[str]]  # raw values per parameter name (hashed before they are recorded)

    def digest(self) -> str:
        canon = json.dumps({c: {op: _jsonable(v) for op, v in sorted(ops.items())}
                            for c, ops in sorted(self.conditions.items())}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in sorted(v.items())}
    if isinstance(v, bool | int | str) or v is None:
        return v
    return f"{type(v).__name__}:{v.isoformat() if isinstance(v, date) else v}"


class QueryApi:
    """Create, list, describe, drop and call conditional query services (``fabric.query_api``)."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store
        self._token_key: bytes | None = None
        self._audit_key: bytes | None = None
        self._consumers: set[tuple[str, int]] = set()  # (service id, version) whose consumer lineage is recorded
        self._consumers_lock = threading.Lock()
        #: name -> (generation, service row, its table's columns): see :meth:`_definition`
        self._definitions: dict[str, tuple[int, ServiceRow, dict[str, _Column]]] = {}
        #: printed SELECTs per call shape (``_select``), with the columns they were built from
        self._texts: dict[tuple[Any, ...], tuple[dict[str, _Column], str, int]] = {}

    # -- definition -------------------------------------------------------------------------------

    def create(self, name: str, table: str, *, params: Mapping[str, list[str]], columns: list[str],
               require_one_of: list[str] | None = None, order: list[str] | None = None, page_size: int = 100,
               max_page_size: int = 1000, description: str | None = None) -> ServiceRow:
        """Publish a service over virtual table ``table`` (a steward of its owning department or an
        admin). ``order`` must be a unique, non-null key (checked on the data through the read
        path as the steward): keyset pages rely on it. It defaults to the first parameter."""
        actor = self.fabric.actor
        if not NAME_RE.match(name or ""):
            raise ValidationFailed(f"service name {name!r}: use lowercase letters, digits and _ (at most 64), "
                                   "starting with a letter")
        relation, department = self._relation(table)
        require_steward(actor, department, f"publish query services over {relation}")
        cols = self._cols(relation)
        problems = []
        params = {k.lower(): list(dict.fromkeys(v)) for k, v in params.items()}
        columns = [c.lower() for c in columns]
        require = [c.lower() for c in require_one_of or []]
        order = [c.lower() for c in order or list(params)[:1]]
        for c in [*params, *columns, *require, *order]:
            if c not in cols:
                problems.append(f"{c}: no visible column of that name in {relation}")
        for c, ops in params.items():
            bad = [op for op in ops if op not in OPS]
            if bad or not ops:
                problems.append(f"{c}: operators must be among {', '.join(OPS)}")
            col = cols.get(c)
            if col is None:
                continue
            if col.kind == "other":
                problems.append(f"{c}: its type {col.type.sql('duckdb')} cannot be filtered on")
            if "prefix" in ops and col.kind != "text":
                problems.append(f"{c}: prefix applies to text columns only")
            if "range" in ops and col.kind in ("bool", "text"):
                problems.append(f"{c}: range applies to numbers, dates and timestamps")
        if require and not any(c in params for c in require):  # the example names a non-parameter too
            problems.append("--require-one-of names no parameter: no call could satisfy it")
        if not columns:
            problems.append("give the output columns (--columns)")
        if not order:
            problems.append("give a parameter or an order key (--order)")
        if not 1 <= max_page_size <= MAX_PAGE_SIZE:
            problems.append(f"the page size cap must be between 1 and {MAX_PAGE_SIZE}")
        if not 1 <= page_size <= max_page_size:
            problems.append("the page size must be between 1 and the cap")
        if problems:
            raise ValidationFailed(f"query service {name} is not valid", problems)
        self._check_unique(relation, order)
        with self.store.session() as s:
            if s.scalar(select(ServiceRow.id).where(ServiceRow.name == name)):
                raise AlreadyExists(f"query service {name} exists; drop it first or choose another name")
            row = ServiceRow(name=name, table_name=relation, params=params, require_one_of=require,
                             columns=list(dict.fromkeys(columns)), order_key=list(dict.fromkeys(order)),
                             page_size=page_size, max_page_size=max_page_size, description=description,
                             created_by=actor.name)
            s.add(row)
            s.flush()
            cache.bump(s)
            append(s, actor.name, "query_api.create", f"query_api:{name}",
                   {"table": row.table_name, "params": params, "require_one_of": require, "columns": row.columns,
                    "order": row.order_key, "page_size": page_size, "max_page_size": max_page_size})
            return row

    # -- tables and views -------------------------------------------------------------------------

    def _relation(self, name: str) -> tuple[str, str | None]:
        """(canonical name, owning department) of a virtual table (its asset's department) or a view
        (its creator's department: who may change a view may publish a service over it)."""
        with self.store.session() as s:
            found = definition(s, (name or "").lower())
            if found is None:
                raise NotFound(f"no virtual table or view {name}; list them with `govfabric vt list` "
                               "and `govfabric view list`")
            return found.name, self._department_of(s, found)

    @classmethod
    def _department(cls, s: Session, name: str) -> str | None:
        found = definition(s, name)
        return cls._department_of(s, found) if found is not None else None

    @staticmethod
    def _department_of(s: Session, found: Definition) -> str | None:
        from govfabric.auth import principals

        if found.kind == "table":
            asset = asset_by_id(s, found.asset_id)
            return asset.owner_department if asset else None
        try:
            return principals.get(s, found.created_by).department if found.created_by is not None else None
        except NotFound:
            return None

    def _cols(self, table: str, needed: list[str] | None = None) -> dict[str, _Column]:
        """The typed columns of a virtual table (stored) or of a view (its answer's schema, planned
        and run with ``LIMIT 0`` as the caller over ``needed`` columns: masks and grants apply)."""
        try:
            return _columns_of(self.fabric.virtual.table(table).columns)
        except NotFound:
            if not self._view_reads({table}):
                raise
        return _columns_of(view_columns(self.fabric, table, needed))

    def _view_reads(self, names: set[str]) -> dict[str, list[str]]:
        """View name -> what it reads (tables and views, from its definition), for views among ``names``."""
        if not names:
            return {}
        with self.store.session() as s:
            return view_dependencies(s, names)

    def _check_unique(self, table: str, order: list[str]) -> None:
        """Keyset pagination visits each row once only on a unique, non-null key: count it."""
        key = [exp.column(c, quoted=True) for c in order]
        q = exp.select(
            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True),
            exp.alias_(exp.Count(this=exp.Distinct(expressions=[exp.Tuple(expressions=key)]) if len(key) > 1
                                 else exp.Distinct(expressions=key)), "d", quoted=True),
            exp.alias_(exp.Sum(this=exp.Case(ifs=[exp.If(this=exp.or_(*[exp.Is(this=k.copy(), expression=exp.Null())
                                                                          for k in key]),
                                                         true=exp.Literal.number(1))],
                                             default=exp.Literal.number(0))), "nulls", quoted=True),
        ).from_(exp.to_table(table))
        got = self.fabric.sql(q.sql(dialect="duckdb")).to_pylist()[0]
        if got["nulls"]:
            raise ValidationFailed(f"order key {', '.join(order)} of {table} has empty values; choose a key "
                                   "column that is always set (--order)")
        if got["n"] != got["d"]:
            raise ValidationFailed(f"order key {', '.join(order)} is not unique in {table}; add columns until "
                                   "it is (--order a,b)")

    def _row(self, s: Any, name: str) -> ServiceRow:
        row = s.scalar(select(ServiceRow).where(ServiceRow.name == name)) if NAME_RE.match(name or "") else None
        if row is None:
            raise NotFound("no such query service; list them with `govfabric api list` (GET /api/v1/query)")
        return row

    def get(self, name: str) -> ServiceRow:
        with self.store.session() as s:
            return self._row(s, name)

    def list(self, *, callable_only: bool = False) -> list[ServiceRow]:
        """Every service; with ``callable_only`` those over tables the caller holds a grant on."""
        with self.store.session() as s:
            rows = list(s.scalars(select(ServiceRow).order_by(ServiceRow.name)))
        return self._callable(rows) if callable_only else rows

    def _callable(self, rows: builtins.list[ServiceRow]) -> builtins.list[ServiceRow]:
        """Those of ``rows`` over tables (or views over tables) the caller holds a grant on."""
        policy = self.fabric.access.policy_for(self.fabric.actor)
        reads = self._view_reads({r.table_name for r in rows} - set(policy.tables))
        return [r for r in rows if r.table_name in policy.tables
                or (r.table_name in reads and set(reads[r.table_name]) <= set(policy.tables))]

    def drop(self, name: str) -> None:
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._row(s, name)
            require_steward(actor, self._department(s, row.table_name), f"drop query service {name}")
            s.delete(row)
            cache.bump(s)
            append(s, actor.name, "query_api.drop", f"query_api:{name}", {"table": row.table_name})

    def describe(self, name: str) -> dict[str, Any]:
        """What a caller needs: parameters with their operators and types, required parameters,
        output columns with types, order key and page sizes. A service over tables the caller holds
        no grant on is "no such service" (to all but stewards and auditors), as in the API's listing:
        its columns and types are metadata of data the caller was not given."""
        row = self.get(name)
        if not self.fabric.actor.has("steward", "auditor") and not self._callable([row]):
            raise NotFound("no such query service; list them with `govfabric api list` (GET /api/v1/query)")
        cols = self._cols(row.table_name, [*row.params, *row.columns])
        return {
            "name": row.name, "table": row.table_name, "description": row.description,
            "params": [{"column": c, "ops": ops, "type": _KIND_NAMES.get(cols[c].kind, "text") if c in cols else None}
                       for c, ops in row.params.items()],
            "require_one_of": row.require_one_of,
            "columns": [{"name": c, "type": cols[c].type.sql("duckdb") if c in cols else None} for c in row.columns],
            "order": row.order_key, "page_size": row.page_size, "max_page_size": row.max_page_size,
            "version": row.version,
        }

    # -- calls ------------------------------------------------------------------------------------

    def call(self, name: str, params: Mapping[str, builtins.list[str]], page_token: str | None = None,
             page_size: int | None = None) -> Page:
        """One page of service ``name`` for ``params`` (``{"uscc": ["9135…"], "district.in": ["a,b"],
        "founded.gte": ["2020-01-01"]}``), as the acting principal. Audited whatever the outcome:
        an answered call in the transaction that records its query, any other on its own."""
        with self.store.call_scope():  # the store's change counter read once per call
            return self._call(name, params, page_token, page_size)

    def _call(self, name: str, params: Mapping[str, builtins.list[str]], page_token: str | None,
              page_size: int | None) -> Page:
        t0 = time.perf_counter()
        status, rows, call = "error", None, None
        names = tuple(sorted(params))[:50]
        recorded = False
        try:
            row, cols = self._definition(name)
            call = self._conditions(row, cols, params)
            size = self._page_size(row, page_size)
            after = self._open_token(row, call, page_token) if page_token else None
            query, n_out, values = self._select(row, cols, call, after, size)

            def record(s: Any, query_status: str, n: int | None) -> list[Entry] | None:
                nonlocal recorded
                if query_status != "ok":
                    return None
                recorded = True
                return [self._entry(name, call, names, "ok", min(n or 0, size), t0)]

            table = self._run(query, record, values)
            more = table.num_rows > size
            table = table.slice(0, size)
            token = self._seal_token(row, call, cols, table) if more else None
            table = table.select(list(range(n_out)))
            status, rows = "ok", table.num_rows
            self._record_consumer(row)
            return Page(table, token)
        except GovfabricError as exc:
            status = type(exc).__name__
            raise
        finally:
            if not recorded:
                self._audit(name, call, names, status, rows, t0)

    def _definition(self, name: str) -> tuple[ServiceRow, dict[str, _Column]]:
        """The service and its table's columns, kept while the store's generation counter
        (``virtualization/cache.py``) stands still: table and catalog writes move it by trigger,
        service writes here (:func:`cache.bump`). One primary-key read instead of two queries."""
        found = cache.current(self.store)
        if found is not None:
            hit = self._definitions.get(name)
            if hit is not None and hit[0] == found[1]:
                return hit[1], hit[2]
        row = self.get(name)
        cols = self._cols(row.table_name, [*row.params, *row.columns, *row.order_key])
        if found is not None:  # read after the generation: a concurrent write leaves it stale, never kept
            if len(self._definitions) >= 256:
                self._definitions.clear()
            self._definitions[name] = (found[1], row, cols)
        return row, cols

    def _conditions(self, row: ServiceRow, cols: dict[str, _Column], params: Mapping[str, builtins.list[str]]) -> _Call:
        conditions: dict[str, dict[str, Any]] = {}
        raw: dict[str, list[str]] = {}
        if len(params) > 64:
            raise ValidationFailed("too many parameters")
        for key, values in params.items():
            if key in RESERVED:
                continue
            m = PARAM_RE.match(key) if isinstance(key, str) else None
            column, suffix = (m.group(1), m.group(2) or "") if m else ("", "")
            op = SUFFIXES.get(suffix)
            allowed = row.params.get(column, [])
            if m is None or op is None or op not in allowed:
                raise ValidationFailed(f"unknown parameter {key[:64]!r} for service {row.name}; "
                                       f"it takes {self._accepted(row)}")
            values = list(values) if isinstance(values, list | tuple) else [values]
            if op != "in" and len(values) != 1:
                raise ValidationFailed(f"parameter {key} is given {len(values)} times; give it once")
            col = cols[column]
            cleaned = [clean_value(v, key) for v in values]
            raw[key] = cleaned
            slot = conditions.setdefault(column, {})
            if op == "in":
                items = [x for v in cleaned for x in v.split(",")]
                if not items or len(items) > MAX_IN_VALUES or any(x == "" for x in items):
                    raise ValidationFailed(f"parameter {key} takes 1 to {MAX_IN_VALUES} non-empty values, "
                                           "comma-separated or repeated")
                slot["in"] = sorted({col.parse(x, key) for x in items}, key=str)
            elif op == "range":
                slot.setdefault("range", {})[suffix] = col.parse(cleaned[0], key)
            else:
                slot[op] = col.parse(cleaned[0], key)
        if row.require_one_of and not any(c in conditions for c in row.require_one_of):
            raise ValidationFailed(f"service {row.name} needs a condition on one of "
                                   f"{', '.join(row.require_one_of)}; it does not list everything")
        return _Call(conditions, tuple(sorted(raw)), raw)

    @staticmethod
    def _accepted(row: ServiceRow) -> str:
        forms = {"eq": "{c}", "in": "{c}.in", "range": "{c}.gte, {c}.lte", "prefix": "{c}.prefix"}
        return ", ".join(forms[op].format(c=c) for c, ops in row.params.items() for op in ops if op in forms)

    @staticmethod
    def _page_size(row: ServiceRow, page_size: int | None) -> int:
        if page_size is None:
            return row.page_size
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= row.max_page_size:
            raise ValidationFailed(f"page_size must be between 1 and {row.max_page_size} for service {row.name}")
        return page_size

    def _select(self, row: ServiceRow, cols: dict[str, _Column], call: _Call, after: builtins.list[Any] | None,
                size: int) -> tuple[str, int, builtins.list[Any]]:
        """:meth:`_build`, printed; the text kept per shape (service version, columns, conditions and
        the number of their values, page size) — building and printing it with sqlglot was a fifth
        of a call's own CPU, and the plan cache is keyed by this text anyway. Calls with a literal in
        the text (a prefix, a page token's key) are built each time."""
        shape = None
        if after is None and not any("prefix" in ops for ops in call.conditions.values()):
            shape = (row.id, row.version, id(cols), size, tuple(
                (c, tuple((op, len(v) if op == "in" else tuple(v) if op == "range" else 1) for op, v in ops.items()))
                for c, ops in call.conditions.items()))
            hit = self._texts.get(shape)
            if hit is not None and hit[0] is cols:  # the same columns object (kept alive by the entry)
                return hit[1], hit[2], _values(call)
        query, n_out, values = self._build(row, cols, call, after, size)
        sql = query.sql(dialect="duckdb")
        if shape is not None:
            if len(self._texts) >= 512:
                self._texts.clear()
            self._texts[shape] = (cols, sql, n_out)
        return sql, n_out, values

    def _build(self, row: ServiceRow, cols: dict[str, _Column], call: _Call, after: builtins.list[Any] | None,
               size: int) -> tuple[exp.Select, int, builtins.list[Any]]:
        """``SELECT columns[, order key] FROM table WHERE conditions [AND after key] ORDER BY key LIMIT size+1``,
        every value a placeholder (the values in the order of their placeholders, as :func:`_values`)."""
        def ref(c: str) -> exp.Column:
            return exp.column(c, quoted=True)

        where: list[exp.Expr] = []
        values: list[Any] = []  # built in the order the placeholders are generated
        for c, ops in call.conditions.items():
            col = cols[c]
            if "eq" in ops:
                where.append(exp.EQ(this=ref(c), expression=col.param(ops["eq"], values)))
            if "in" in ops:
                where.append(exp.In(this=ref(c), expressions=[col.param(v, values) for v in ops["in"]]))
            if "prefix" in ops:
                where.append(exp.StartsWith(this=ref(c), expression=exp.Literal.string(ops["prefix"])))
            for bound, v in (ops.get("range") or {}).items():
                cls = exp.GTE if bound == "gte" else exp.LTE
                where.append(cls(this=ref(c), expression=col.param(v, values)))
        if after is not None:
            where.append(_after(row.order_key, cols, after))
        extra = [k for k in row.order_key if k not in row.columns]
        q = exp.select(*[ref(c) for c in [*row.columns, *extra]]).from_(exp.to_table(row.table_name))
        if where:
            q = q.where(exp.and_(*where))
        q = q.order_by(*[exp.Ordered(this=ref(k), nulls_first=False) for k in row.order_key]).limit(size + 1)
        return q, len(row.columns), values

    def _run(self, sql: str, record_with: Any = None, params: builtins.list[Any] | None = None) -> pa.Table:
        """Through the guarded pipeline as the caller (plan cache, grants, masks, row filters, usage)."""
        # direct to the source when it can; the call's audit event in the query's recording transaction
        batches = list(self.fabric.queries.stream(sql, engine="auto", record_with=record_with, params=params or ()))
        if batches:
            return pa.Table.from_batches(batches)
        planned, _ = self.fabric.queries.plan(sql, engine="auto", params=len(params or ()))  # the plan that ran
        return pa.table({c: pa.array([], pa.null()) for c in planned.output_columns})

    # -- page tokens ------------------------------------------------------------------------------

    def _key(self) -> bytes:
        if self._token_key is None:
            self._token_key = self.fabric.secrets.derive("query-api-page")
        return self._token_key

    def _bound_to(self, row: ServiceRow, call: _Call) -> bytes:
        return "\x00".join([row.id, str(row.version), self.fabric.user, call.digest()]).encode("utf-8")

    def _seal_token(self, row: ServiceRow, call: _Call, cols: dict[str, _Column], table: pa.Table) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        last = table.slice(table.num_rows - 1, 1).to_pylist()[0]
        body = json.dumps({"k": [cols[k].to_token(last[k]) for k in row.order_key],
                           "e": int(time.time()) + TOKEN_TTL_S}, ensure_ascii=False).encode("utf-8")
        nonce = os.urandom(12)
        sealed = AESGCM(self._key()).encrypt(nonce, body, self._bound_to(row, call))
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def _open_token(self, row: ServiceRow, call: _Call, token: str) -> builtins.list[Any]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        invalid = PageTokenInvalid("the page token is not valid for this service, caller and parameters; "
                                   "start again without page_token and keep the parameters of the first page")
        if not isinstance(token, str) or len(token) > TOKEN_MAX_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
            raise invalid
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(AESGCM(self._key()).decrypt(blob[:12], blob[12:], self._bound_to(row, call)))
        except (InvalidTag, ValueError, TypeError):
            raise invalid from None
        if not isinstance(body, dict) or not isinstance(body.get("e"), int) or body["e"] < time.time():
            raise PageTokenInvalid("the page token expired; start again without page_token")
        keys = body.get("k")
        if not isinstance(keys, list) or len(keys) != len(row.order_key):
            raise invalid
        return keys

    # -- lineage ----------------------------------------------------------------------------------

    def _record_consumer(self, row: ServiceRow) -> None:
        """OpenLineage: the calling principal is an output of the service (``govfabric-app://<caller>``
        / ``query_api/<service>``, columns derived from the table or view). Once per service version
        in this process: each call's run is already the virtual query's own event. Claimed before it
        is written: a server's first calls arrive together, and each writing it (deleting and writing
        the same edge rows, each waiting on the other's lock) stored dozens of copies per worker."""
        key = (row.id, row.version)
        if key in self._consumers:
            return
        with self._consumers_lock:
            if key in self._consumers:
                return
            self._consumers.add(key)
        try:
            self._write_consumer(row)
        except BaseException:
            with self._consumers_lock:
                self._consumers.discard(key)  # not written: a later call writes it
            raise

    def _write_consumer(self, row: ServiceRow) -> None:
        from govfabric.governance.lineage.events import consumer_event, emit

        sql = exp.select(*[exp.column(c, quoted=True) for c in row.columns]).from_(exp.to_table(row.table_name))
        planned, _ = self.fabric.queries.plan(sql.sql(dialect="duckdb"))
        event = consumer_event(self.fabric, f"query_api.{row.name}", "QUERY_SERVICE", row.table_name, row.columns,
                               self.fabric.user, f"query_api/{row.name}",
                               masked=planned.masked_columns.get(row.table_name, ()))
        with self.store.session() as s:
            emit(self.fabric, s, event, self.fabric.user)

    # -- audit ------------------------------------------------------------------------------------

    def _hash(self, value: str) -> str:
        if self._audit_key is None:
            self._audit_key = self.fabric.secrets.derive("query-api-audit")
        return hmac.new(self._audit_key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def _audit(self, name: str, call: _Call | None, names: tuple[str, ...], status: str, rows: int | None,
               t0: float) -> None:
        """The record of a call that ran no query to its end, in a transaction of its own."""
        with self.store.session(pipelined=True) as s:
            self._append(s, name, call, names, status, rows, t0)

    def _append(self, s: Any, name: str, call: _Call | None, names: tuple[str, ...], status: str,
                rows: int | None, t0: float) -> None:
        append(s, *self._entry(name, call, names, status, rows, t0))

    def _entry(self, name: str, call: _Call | None, names: tuple[str, ...], status: str,
               rows: int | None, t0: float) -> Entry:
        """The data-access record of a call: parameter names, values only as keyed hashes."""
        details: dict[str, Any] = {
            "service": name[:64] if NAME_RE.match(name or "") else "?", "status": status, "rows": rows,
            "params": [n[:64] for n in names], "ms": round((time.perf_counter() - t0) * 1000, 2)}
        if call is not None:
            details["values"] = {k: [self._hash(v) for v in vs[:MAX_IN_VALUES]] for k, vs in call.values.items()}
        return (self.fabric.user, "query_api.call", f"query_api:{details['service']}", details)


def view_columns(fabric: Fabric, view: str, needed: list[str] | None = None) -> list[dict[str, Any]]:
    """``[{name, type}]`` of a view's answer as ``fabric``'s principal sees it (grants, masks): one
    row of typed NULLs (an empty answer carries no types), a one-row table LEFT JOIN the view."""
    names = list(dict.fromkeys(needed or [])) or fabric.sql(
        exp.select(exp.Star()).from_(exp.to_table(view)).limit(0).sql(dialect="duckdb")).column_names
    empty = exp.select(*[exp.column(c, quoted=True) for c in names]).from_(exp.to_table(view)).limit(0)
    q = exp.select(*[exp.column(c, table="v", quoted=True) for c in names]) \
        .from_(exp.select(exp.alias_(exp.Literal.number(1), "one")).subquery("d")) \
        .join(empty.subquery("v"), on=exp.true(), join_type="left")
    return [{"name": f.name, "type": _arrow_sql(f.type)} for f in fabric.sql(q.sql(dialect="duckdb")).schema]


def _arrow_sql(t: pa.DataType) -> str:
    """A DuckDB type name for an Arrow type of a view's column (unknown types are not filterable)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    return "BLOB"


def _values(call: _Call) -> list[Any]:
    """The values of a call's placeholders in the order ``_build`` generates them (no prefix, no page key)."""
    values: list[Any] = []
    for ops in call.conditions.values():
        if "eq" in ops:
            values.append(ops["eq"])
        if "in" in ops:
            values.extend(ops["in"])
        values.extend((ops.get("range") or {}).values())
    return values


def _after(order: list[str], cols: dict[str, _Column], values: list[Any]) -> exp.Expr:
    """Rows after the key ``values``: ``k1 > v1 OR (k1 = v1 AND k2 > v2) OR …`` (portable across
    engines, unlike row-value comparison). Values come from a sealed token and are parsed again."""
    parsed = []
    for k, v in zip(order, values, strict=True):
        col = cols[k]
        if v is None:
            raise PageTokenInvalid("the page token is not valid; start again without page_token")
        parsed.append(col.literal(col.parse(v, "page_token") if isinstance(v, str) and col.kind != "text" else v))
    terms = []
    for i, k in enumerate(order):
        eqs = [exp.EQ(this=exp.column(order[j], quoted=True), expression=parsed[j].copy()) for j in range(i)]
        gt = exp.GT(this=exp.column(k, quoted=True), expression=parsed[i].copy())
        terms.append(exp.and_(*eqs, gt) if eqs else gt)
    return exp.paren(exp.or_(*terms)) if len(terms) > 1 else terms[0]
