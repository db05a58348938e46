"""Runs the data-driven policy / hostile-SQL suite (``virt_cases.CASES``) on every engine.

The ``engine`` fixture is parametrised by name; an engine entry plans with its own name and
runs SQL on a connection holding ``virt_world.TABLES``. DuckDB runs here; the Trino tier adds
its entry to ``ENGINES`` (same cases, same expectations).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import duckdb
import pytest
from trino_world import trino_runner
from virt_cases import CASES, HOSTILE_COUNT, Case, Rejected, Rows
from virt_world import POLICIES, load_duckdb, resolver

from govfabric.errors import GovfabricError
from govfabric.virtualization.pipeline import plan

Runner = Callable[[str], list[tuple]]


def _duckdb_runner() -> Runner:
    con = duckdb.connect()
    load_duckdb(con)
    return lambda sql: con.execute(sql).fetchall()


ENGINES: dict[str, Callable[[], Runner]] = {"duckdb": _duckdb_runner, "trino": trino_runner}
#: markers of engines that need a real server
ENGINE_MARKS = {"trino": pytest.mark.trino}


@pytest.fixture(scope="module", params=[pytest.param(n, marks=ENGINE_MARKS.get(n, ())) for n in sorted(ENGINES)])
def engine(request: pytest.FixtureRequest) -> tuple[str, Runner]:
    return request.param, ENGINES[request.param]()


def _norm(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def _rows(rows: list[tuple]) -> list[tuple]:
    return [tuple(_norm(v) for v in row) for row in rows]


def _key(row: tuple) -> tuple:
    return tuple((v is None, str(type(v)), str(v)) for v in row)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200
    assert HOSTILE_COUNT >= 100
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, engine: tuple[str, Runner]) -> None:
    name, run = engine
    policy = POLICIES[case.policy]
    if isinstance(case.expect, Rejected):
        with pytest.raises(GovfabricError) as info:
            planned = plan(case.sql, dialect=case.dialect, engine=name, resolver=resolver(), policy=policy)
            run(planned.sql)  # only reached if planning wrongly succeeded
        assert type(info.value) is case.expect.error, info.value
        assert case.expect.fragment in str(info.value)
        return
    assert isinstance(case.expect, Rows)
    planned = plan(case.sql, dialect=case.dialect, engine=name, resolver=resolver(), policy=policy)
    got = _rows(run(planned.sql))
    want = _rows(case.expect.rows)
    if case.expect.ordered:
        assert got == want, planned.sql
    else:
        assert sorted(got, key=_key) == sorted(want, key=_key), planned.sql
