"""Grants never widen, property-based: random small tables, random sets of grants (columns,
row filters, unmasked columns), an optional mask and row-filter policy, planned through the
real pipeline and run on DuckDB (and on the real Trino), compared with a brute-force oracle.

The oracle is plain Python over the rows and knows nothing of the rewrite: a row is there if
the row-filter policy and some grant's filter hold on it; a column is visible if some grant
covers it; a value is clear where a grant covering its column in clear holds, masked where
only grants covering it masked hold, NULL where none holds (docs/security-model.md).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt_world import plan_one_grant

from govfabric.virtualization.policy import GrantPart, MaskSpec, TableGrant, VirtualColumn, VirtualTable

# virtual column → (physical name, type); h is hidden (row filters may use it, nobody sees it)
COLUMNS = {"a": ("pa", "VARCHAR"), "b": ("pb", "VARCHAR"), "c": ("pc", "VARCHAR"), "d": ("pd", "INTEGER"),
           "h": ("ph", "VARCHAR")}
VISIBLE = ("a", "b", "c", "d")
STRINGS = ("甲乙", "abc", "x", None)
INTS = (1, 2, None)
NAME = "t.g"

Value = str | int | None
Row = dict[str, Value]
Pred = tuple[Any, ...]


def _domain(col: str) -> Sequence[Value]:
    return INTS if COLUMNS[col][1] == "INTEGER" else STRINGS


# ---------------------------------------------------------------- predicates: SQL text and 3-valued truth


def _atoms(col: str) -> st.SearchStrategy[Pred]:
    values = [v for v in _domain(col) if v is not None]
    ops = ("=", "<>", ">") if COLUMNS[col][1] == "INTEGER" else ("=", "<>")
    return st.one_of(
        st.tuples(st.just("cmp"), st.just(col), st.sampled_from(ops), st.sampled_from(values)),
        st.tuples(st.just("null"), st.just(col), st.booleans()),
        st.tuples(st.just("in"), st.just(col), st.lists(st.sampled_from(values), min_size=1, max_size=2,
                                                         unique=True).map(tuple)),
    )


ATOM = st.sampled_from(tuple(COLUMNS)).flatmap(_atoms)
PRED: st.SearchStrategy[Pred] = st.one_of(
    ATOM,
    st.tuples(st.sampled_from(("and", "or")), ATOM, ATOM),
    st.tuples(st.just("not"), ATOM),
)


def _lit(v: Value) -> str:
    return str(v) if isinstance(v, int) else "'" + str(v) + "'"


def sql_of(p: Pred) -> str:
    kind = p[0]
    if kind == "cmp":
        return f"{p[1]} {p[2]} {_lit(p[3])}"
    if kind == "null":
        return f"{p[1]} IS {'' if p[2] else 'NOT '}NULL"
    if kind == "in":
        return f"{p[1]} IN ({', '.join(_lit(v) for v in p[2])})"
    if kind == "not":
        return f"NOT ({sql_of(p[1])})"
    return f"({sql_of(p[1])}) {kind.upper()} ({sql_of(p[2])})"


def truth(p: Pred, row: Row) -> bool | None:
    """SQL's three-valued logic: None is unknown."""
    kind = p[0]
    if kind == "null":
        return (row[p[1]] is None) == p[2]
    if kind in ("cmp", "in"):
        v = row[p[1]]
        if v is None:
            return None
        if kind == "in":
            return v in p[2]
        return {"=": v == p[3], "<>": v != p[3], ">": v > p[3]}[p[2]]  # type: ignore[operator]
    if kind == "not":
        t = truth(p[1], row)
        return None if t is None else not t
    left, right = truth(p[1], row), truth(p[2], row)
    if kind == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


# ---------------------------------------------------------------- masks the oracle knows


def masked(rule: str, v: Value) -> Value:
    if v is None or rule == "null":
        return None
    if rule == "full":
        return "***"
    s = str(v)  # partial: first 1 and last 1 kept, the rest starred (per character)
    return "*" * len(s) if len(s) <= 2 else s[0] + "*" * (len(s) - 2) + s[-1]


# ---------------------------------------------------------------- one random world


@dataclass(frozen=True)
class Part:
    columns: frozenset[str] | None
    row_filter: Pred | None
    unmasked: frozenset[str]


@dataclass(frozen=True)
class World:
    rows: tuple[Row, ...]
    parts: tuple[Part, ...]
    mask: tuple[str, str] | None  # (column, rule)
    policy_filter: Pred | None

    def grant(self) -> TableGrant:
        masks = {self.mask[0]: MaskSpec(self.mask[1])} if self.mask else {}
        return TableGrant(
            masks=masks,
            row_filters=(sql_of(self.policy_filter),) if self.policy_filter else (),
            parts=tuple(GrantPart(p.columns, None if p.row_filter is None else sql_of(p.row_filter), p.unmasked)
                        for p in self.parts),
        )

    # the oracle
    def visible(self) -> list[str]:
        return [c for c in VISIBLE if any(p.columns is None or c in p.columns for p in self.parts)]

    def shown(self) -> list[dict[str, Value]]:
        """Each row the principal sees, as visible column → value (clear, masked or None)."""
        out = []
        for row in self.rows:
            if self.policy_filter is not None and truth(self.policy_filter, row) is not True:
                continue
            holds = [p.row_filter is None or truth(p.row_filter, row) is True for p in self.parts]
            if not any(holds):
                continue
            seen: dict[str, Value] = {}
            for c in self.visible():
                mask = self.mask[1] if self.mask and self.mask[0] == c else None
                clear = masked_ok = False
                for p, ok in zip(self.parts, holds, strict=True):
                    if ok and (p.columns is None or c in p.columns):
                        if mask is None or c in p.unmasked:
                            clear = True
                        else:
                            masked_ok = True
                seen[c] = row[c] if clear else masked(mask, row[c]) if masked_ok and mask else None
            out.append(seen)
        return out


def _row() -> st.SearchStrategy[Row]:
    return st.fixed_dictionaries({c: st.sampled_from(_domain(c)) for c in COLUMNS})


def _part() -> st.SearchStrategy[Part]:
    cols = st.one_of(st.none(), st.frozensets(st.sampled_from(VISIBLE), min_size=1))
    return st.builds(Part, cols, st.one_of(st.none(), PRED), st.frozensets(st.sampled_from(VISIBLE)))


WORLDS = st.builds(
    World,
    st.lists(_row(), min_size=1, max_size=5).map(tuple),
    st.lists(_part(), min_size=1, max_size=4).map(tuple),
    st.one_of(st.none(), st.tuples(st.sampled_from(VISIBLE), st.sampled_from(("full", "partial", "null")))),
    st.one_of(st.none(), st.none(), PRED),
)


# ---------------------------------------------------------------- running it through the pipeline


def _norm(v: object) -> str | None:
    return None if v is None else str(v)


def _bag(rows: Sequence[Sequence[object]]) -> list[tuple[str | None, ...]]:
    return sorted((tuple(_norm(v) for v in r) for r in rows), key=lambda r: tuple((v is None, v or "") for v in r))


Runner = Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]


def check(world: World, engine: str, physical: tuple[str, str, str], run: Runner) -> None:
    """Every query shape against the oracle."""
    vt = VirtualTable(NAME, {engine: physical}, tuple(VirtualColumn(c, physical=p, type=t, hidden=c == "h")
                                                     for c, (p, t) in COLUMNS.items()))
    grant = world.grant()

    def query(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        return run(plan_one_grant(vt, grant, sql, engine).sql)

    visible, shown = world.visible(), world.shown()
    names, rows = query(f"SELECT * FROM {NAME}")
    assert names == visible
    assert _bag(rows) == _bag([[r[c] for c in visible] for r in shown]), (world, rows)
    assert query(f"SELECT count(*) FROM {NAME}")[1] == [(len(shown),)]
    strings = [c for c in visible if COLUMNS[c][1] == "VARCHAR"]
    if strings:
        col = strings[0]
        target = next((r[col] for r in shown if r[col] is not None), "x")
        _, got = query(f"SELECT * FROM {NAME} WHERE {col} = {_lit(target)}")
        assert _bag(got) == _bag([[r[c] for c in visible] for r in shown if r[col] == target]), (world, got)
    col = visible[-1]
    _, got = query(f"SELECT {col}, count(*) AS n FROM {NAME} GROUP BY {col}")
    want = Counter(_norm(r[col]) for r in shown)
    assert {_norm(k): n for k, n in got} == dict(want), (world, got)


def _values(world: World) -> str:
    def typed(c: str, v: Value) -> str:
        return f"CAST(NULL AS {COLUMNS[c][1]})" if v is None else _lit(v)

    return ", ".join("(" + ", ".join(typed(c, r[c]) for c in COLUMNS) + ")" for r in world.rows)


def _physical_names() -> str:
    return ", ".join(p for p, _ in COLUMNS.values())


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=WORLDS)
def test_grants_never_widen_on_duckdb(con: duckdb.DuckDBPyConnection, world: World) -> None:
    con.execute(f"CREATE OR REPLACE TABLE main.g AS SELECT * FROM (VALUES {_values(world)}) AS v({_physical_names()})")

    def run(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()

    check(world, "duckdb", ("memory", "main", "g"), run)


@pytest.mark.trino
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=WORLDS)
def test_grants_never_widen_on_trino(trino: Any, world: World) -> None:
    table = f"gf_grants_{uuid.uuid4().hex[:10]}"
    trino.execute(f"CREATE TABLE memory.default.{table} AS SELECT * FROM (VALUES {_values(world)}) "
                  f"AS v({_physical_names()})")
    trino.fetchall()

    def run(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        trino.execute(sql)
        rows = [tuple(r) for r in trino.fetchall()]
        return [d[0] for d in trino.description], rows

    try:
        check(world, "trino", ("memory", "default", table), run)
    finally:
        trino.execute(f"DROP TABLE IF EXISTS memory.default.{table}")
        trino.fetchall()


@pytest.fixture(scope="module")
def trino() -> Any:
    from infra.services import require_trino_url
    from trino_world import trino_cursor

    return trino_cursor(require_trino_url())
