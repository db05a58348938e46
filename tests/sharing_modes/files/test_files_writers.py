"""Writers: every format round-trips dates, decimals, NULLs and Chinese text (read back with
pyarrow/polars/openpyxl); GB18030 with a BOM; the digests are those of the bytes; a large table is
written with memory bounded by one batch, not the table; XLSX continues on a second sheet."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import tracemalloc

import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from govfabric.sharing_modes.files import writers

D = decimal.Decimal
TABLE = pa.table({
    "name": ["张伟有限公司", None, 'a,"b'],
    "founded": pa.array([dt.date(2020, 1, 2), None, dt.date(1999, 12, 31)], pa.date32()),
    "capital": pa.array([D("12.34"), None, D("123456789012345678.01")], pa.decimal128(20, 2)),
    "n": pa.array([1, None, 3], pa.int64()),
})


def _write(fmt: str, table: pa.Table = TABLE, **kw) -> tuple[bytes, writers.Written]:
    buf = io.BytesIO()
    w = writers.write(fmt, table.to_batches(max_chunksize=2), buf, empty=table.schema, **kw)
    return buf.getvalue(), w


@pytest.mark.parametrize("fmt", writers.FORMATS)
def test_digests_and_size_are_those_of_the_bytes(fmt: str) -> None:
    data, w = _write(fmt)
    assert w.rows == 3 and w.size == len(data)
    assert w.sha256 == hashlib.sha256(data).hexdigest() and w.sm3 == hashlib.new("sm3", data).hexdigest()


def test_parquet_round_trips_types_exactly() -> None:
    data, _ = _write("parquet")
    assert pq.read_table(io.BytesIO(data)).equals(TABLE)


def test_csv_utf8_round_trip() -> None:
    data, _ = _write("csv")
    assert not data.startswith(b"\xef\xbb\xbf")
    back = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
        column_types={"capital": pa.decimal128(20, 2), "founded": pa.date32()}, strings_can_be_null=True,
        quoted_strings_can_be_null=False))
    assert back.column("name").to_pylist() == ["张伟有限公司", None, 'a,"b']
    assert back.column("capital").to_pylist() == [D("12.34"), None, D("123456789012345678.01")]
    assert back.column("founded").to_pylist() == [dt.date(2020, 1, 2), None, dt.date(1999, 12, 31)]


def test_csv_gb18030_with_bom() -> None:
    data, _ = _write("csv", encoding="gb18030", bom=True)
    assert data.startswith("\ufeff".encode("gb18030"))
    assert "张伟有限公司".encode("gb18030") in data and "张伟".encode() not in data
    text = data.decode("gb18030").lstrip("\ufeff")
    assert pl.read_csv(io.StringIO(text))["name"].to_list() == ["张伟有限公司", None, 'a,"b']
    utf8_bom, _ = _write("csv", bom=True)
    assert utf8_bom.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_round_trip(fmt: str) -> None:
    data, _ = _write(fmt)
    text = data.decode("utf-8")
    records = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
    assert records[0] == {"name": "张伟有限公司", "founded": "2020-01-02", "capital": "12.34", "n": 1}
    assert records[1] == {"name": None, "founded": None, "capital": None, "n": None}
    assert D(records[2]["capital"]) == D("123456789012345678.01")
    if fmt == "json":
        assert pl.read_json(io.BytesIO(data)).height == 3
    empty, w = _write(fmt, TABLE.slice(0, 0))
    assert w.rows == 0 and json.loads(empty.decode() or "null") in ([], None)


def test_xlsx_round_trip() -> None:
    data, _ = _write("xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("name", "founded", "capital", "n")
    assert rows[1][0] == "张伟有限公司" and rows[1][1].date() == dt.date(2020, 1, 2) and rows[1][2] == 12.34
    assert rows[2] == (None, None, None, None)
    assert rows[3][2] == "123456789012345678.01"  # no double holds it: kept as exact text


def test_xlsx_continues_on_another_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writers, "XLSX_ROWS_PER_SHEET", 2)
    data, w = _write("xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert w.rows == 3 and [s.title for s in wb.worksheets] == ["Sheet1", "Sheet2"]
    assert [r[3] for r in wb.worksheets[1].iter_rows(values_only=True)] == ["n", 3]


def _big(batches: int, rows: int):
    """``batches × rows`` rows generated one batch at a time (the table never exists whole)."""
    for b in range(batches):
        start = b * rows
        yield pa.record_batch({"id": pa.array(range(start, start + rows), pa.int64()),
                               "name": pa.array([f"企业{i}" for i in range(start, start + rows)])})


class _Null(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        return len(memoryview(data))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_streaming_memory_is_bounded_by_a_batch(fmt: str) -> None:
    """400k rows (~9 MB in Arrow) in 20k-row batches: peak Python allocation stays well under the
    whole, so a 10M-row file needs no more than one batch does."""
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    tracemalloc.start()
    try:
        w = writers.write(fmt, _big(20, 20_000), _Null(), empty=schema, encoding="gb18030" if fmt == "csv" else
                          "utf-8")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = 20 * next(_big(1, 20_000)).nbytes  # the table's size in Arrow memory
    assert w.rows == 400_000 and whole > 8_000_000
    assert peak < whole / 3, (peak, whole)  # one batch and its text, not 20
