"""`govfabric sql … -o FILE` and `--format csv` stream (issue 15, item 6): every batch is written
before the next is read, so memory stays at a few batches whatever the result's size; an export is
bounded by export_row_limit, not query_row_limit. Checked by the order of reads and writes (never
by RSS, which a shared machine would make flaky), and by the rows that come out."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from govfabric.cli import sql as sql_cli
from govfabric.cli.main import run
from govfabric.virtualization.query import QueryService

ROWS = 200_000
QUERY = "SELECT id, name, amount FROM bench.big ORDER BY id"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from govfabric.fabric import init_workspace

    tmp = tmp_path_factory.mktemp("sqlstream")
    con = duckdb.connect(str(tmp / "data.duckdb"))
    con.execute(f"CREATE TABLE big AS SELECT i AS id, 'name ' || i AS name, (i % 1000) * 1.5 AS amount "
                f"FROM range({ROWS}) t(i)")
    con.close()
    fabric = init_workspace(tmp / "ws")
    fabric.add_principal("steward1", ["steward"], department="市场监管局")
    fabric.add_principal("analyst1", ["analyst"], department="发展改革委")
    steward = fabric.as_user("steward1")
    steward.catalog.add_source("src", f"duckdb:///{tmp / 'data.duckdb'}")
    steward.catalog.harvest("src")
    steward.virtual.create_table("bench.big", "src.main.big")
    steward.access.grant("analyst1", "bench.big", purpose="export test")
    fabric.close()
    return tmp / "ws"


class Spy(io.RawIOBase):
    """A sink that notes each write in ``events`` (next to the reader's "batch" events)."""

    def __init__(self, events: list[str], inner: Any) -> None:
        self.events, self.inner = events, inner

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.events.append("write")
        return int(self.inner.write(data))

    def flush(self) -> None:
        self.inner.flush()


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order in which the CLI reads batches from the query and writes to its sink."""
    seen: list[str] = []
    stream = QueryService.stream

    def spied(self: QueryService, *a: Any, **kw: Any) -> Iterator[Any]:
        for batch in stream(self, *a, **kw):
            seen.append("batch")
            yield batch

    monkeypatch.setattr(QueryService, "stream", spied)
    opener = sql_cli.atomic_open

    def spied_open(target: Path, inside: Path | None = None) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def cm() -> Iterator[Any]:
            with opener(target, inside) as fh:
                yield Spy(seen, fh)
        return cm()

    monkeypatch.setattr(sql_cli, "atomic_open", spied_open)
    return seen


def streamed(events: list[str]) -> None:
    """Every batch but the first is read only after something was written: no batch waits for all."""
    batches = [i for i, e in enumerate(events) if e == "batch"]
    assert len(batches) >= 3, events
    for before, after in zip(batches, batches[1:], strict=False):
        assert "write" in events[before + 1:after], events


def export(home: Path, *args: str) -> int:
    return run(["--home", str(home), "--as", "analyst1", "sql", QUERY, *args])


def test_parquet_export_streams_batches(home: Path, events: list[str]) -> None:
    assert export(home, "-o", "big.parquet", "--format", "parquet") == 0
    streamed(events)
    table = pq.read_table(home / "exports" / "big.parquet")
    assert table.num_rows == ROWS
    assert table.column("id").to_pylist()[::50_000] == [0, 50_000, 100_000, 150_000]
    assert table.column("name")[ROWS - 1].as_py() == f"name {ROWS - 1}"


def test_csv_export_to_a_file_streams(home: Path, events: list[str]) -> None:
    assert export(home, "-o", "big.csv", "--format", "csv") == 0
    streamed(events)
    table = pacsv.read_csv(home / "exports" / "big.csv")
    assert table.num_rows == ROWS and table.column_names == ["id", "name", "amount"]
    assert sum(table.column("amount").to_pylist()) == sum((i % 1000) * 1.5 for i in range(ROWS))


def test_csv_to_stdout_streams(home: Path, events: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(Spy(events, out), encoding="utf-8"))  # type: ignore[arg-type]
    assert export(home, "--format", "csv") == 0
    streamed(events)
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == ROWS + 1 and lines[0] == '"id","name","amount"' and lines[-1].startswith(f"{ROWS - 1},")


def test_an_export_is_bounded_by_export_row_limit(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An interactive table keeps query_row_limit; an export above it runs, until export_row_limit."""
    monkeypatch.setenv("GOVFABRIC_QUERY_ROW_LIMIT", "100000")
    assert run(["--home", str(home), "--as", "analyst1", "sql", QUERY]) != 0
    assert "row limit" in capsys.readouterr().err
    assert export(home, "-o", "limited.csv", "--format", "csv") == 0
    monkeypatch.setenv("GOVFABRIC_EXPORT_ROW_LIMIT", "100000")
    assert export(home, "-o", "limited.csv", "--format", "csv") != 0
    assert "row limit" in capsys.readouterr().err
