"""File writers fed by Arrow record batches: one batch in memory at a time, never the table.

Every writer writes through a :class:`DigestSink`, so the SHA-256 and SM3 digests and the size of
the file are known when the last byte is written, without reading the file back."""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import decimal
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from govfabric.errors import ValidationFailed

FORMATS = ("csv", "xlsx", "parquet", "json", "ndjson")
ENCODINGS = ("utf-8", "gb18030")
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "parquet": "parquet", "json": "json", "ndjson": "ndjson"}
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "json": "application/json", "ndjson": "application/x-ndjson"}
#: data rows per worksheet (Excel's 1,048,576 rows less the header); more continue on the next sheet
XLSX_ROWS_PER_SHEET = 1_048_575
#: Excel's own limit on sheets is memory; ours keeps a runaway export from writing forever
XLSX_MAX_SHEETS = 64


def check_format(fmt: str) -> str:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed(f"unknown file format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def check_encoding(encoding: str) -> str:
    enc = encoding.strip().lower().replace("_", "-")
    enc = "utf-8" if enc == "utf8" else enc
    if enc not in ENCODINGS:
        raise ValidationFailed(f"unknown CSV encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    return enc


class DigestSink(io.RawIOBase):
    """A write-only stream that passes bytes on to ``out`` while hashing (SHA-256, SM3) and counting."""

    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self.out = out
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._sm3 = hashlib.new("sm3")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.out.write(view)
        self._sha256.update(view)
        self._sm3.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def sm3(self) -> str:
        return self._sm3.hexdigest()


@dataclass(frozen=True)
class Written:
    rows: int
    size: int
    sha256: str
    sm3: str


def write(fmt: str, batches: Iterable[pa.RecordBatch], out: IO[bytes], *, empty: pa.Schema,
          encoding: str = "utf-8", bom: bool = False, tmpdir: str | None = None) -> Written:
    """Write ``batches`` as ``fmt`` to ``out``; ``empty``: the schema used when no batch comes;
    ``tmpdir``: where XLSX sheets are spooled (next to the target, not the system's /tmp)."""
    sink = DigestSink(out)
    writer = WRITERS[check_format(fmt)]
    rows = writer(_with_schema(batches, empty), sink, check_encoding(encoding), bom, tmpdir)
    return Written(rows, sink.size, sink.sha256, sink.sm3)


def _with_schema(batches: Iterable[pa.RecordBatch], empty: pa.Schema) -> Iterator[pa.RecordBatch]:
    """At least one batch (an empty one of ``empty`` when there are none): headers need a schema."""
    seen = False
    for b in batches:
        seen = True
        yield b
    if not seen:
        yield pa.RecordBatch.from_pylist([], schema=empty)


def _csv(batches: Iterator[pa.RecordBatch], sink: DigestSink, encoding: str, bom: bool,
         tmpdir: str | None) -> int:
    """pyarrow writes UTF-8 per batch; GB18030 re-encodes each batch's text with an incremental
    encoder (a batch ends at a line end, so no character is split)."""
    encoder = codecs.getincrementalencoder(encoding)()
    if bom:
        sink.write(encoder.encode("\ufeff"))
    rows, first = 0, True
    for batch in batches:
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=first))
        first = False
        rows += batch.num_rows
        data = buf.getvalue()
        sink.write(data if encoding == "utf-8" else encoder.encode(data.decode("utf-8")))
    sink.write(encoder.encode("", final=True))
    return rows


def _parquet(batches: Iterator[pa.RecordBatch], sink: DigestSink, encoding: str, bom: bool,
             tmpdir: str | None) -> int:
    rows, writer = 0, None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def _slices(batches: Iterator[pa.RecordBatch], rows: int = 1024) -> Iterator[pa.RecordBatch]:
    """Batches cut to ``rows`` (zero-copy): writers that turn rows into Python objects hold few."""
    for batch in batches:
        if batch.num_rows <= rows:
            yield batch
            continue
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _json_value(value: Any) -> Any:
    """JSON for what JSON lacks: dates and times in ISO 8601, decimals as exact strings, bytes in base64."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _rows_json(batches: Iterator[pa.RecordBatch], sink: DigestSink, lines: bool) -> int:
    rows = 0
    dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, default=_json_value).encode
    if not lines:
        sink.write(b"[")
    for batch in _slices(batches):
        parts = []
        for record in batch.to_pylist():
            text = dumps(record)
            if lines:
                parts.append(text + "\n")
            else:
                parts.append(("\n" if rows == 0 else ",\n") + text)
            rows += 1
        if parts:
            sink.write("".join(parts).encode("utf-8"))
    if not lines:
        sink.write(b"\n]\n" if rows else b"]\n")
    return rows


def _json(batches: Iterator[pa.RecordBatch], sink: DigestSink, encoding: str, bom: bool,
          tmpdir: str | None) -> int:
    return _rows_json(batches, sink, lines=False)


def _ndjson(batches: Iterator[pa.RecordBatch], sink: DigestSink, encoding: str, bom: bool,
            tmpdir: str | None) -> int:
    return _rows_json(batches, sink, lines=True)


def _xlsx(batches: Iterator[pa.RecordBatch], sink: DigestSink, encoding: str, bom: bool,
          tmpdir: str | None) -> int:
    """xlsxwriter in ``constant_memory`` mode keeps one row in memory and spools sheets to temporary
    files; the zip goes to a temporary file, then through the digest sink. Above
    :data:`XLSX_ROWS_PER_SHEET` rows the data continues on the next sheet, headed again."""
    import xlsxwriter

    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=tmpdir)
    os.close(fd)
    try:
        wb = xlsxwriter.Workbook(tmp, {"constant_memory": True, "strings_to_numbers": False,
                                       "strings_to_formulas": False, "strings_to_urls": False,
                                       "tmpdir": tmpdir})
        fmt_date = wb.add_format({"num_format": "yyyy-mm-dd"})
        fmt_ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        rows, sheet, row_in_sheet, names = 0, None, 0, None
        for batch in _slices(batches):
            names = names or batch.schema.names
            if sheet is None:
                sheet, row_in_sheet = _xlsx_sheet(wb, names), 0
            columns = [c.to_pylist() for c in batch.columns]
            for r in range(batch.num_rows):
                if row_in_sheet == XLSX_ROWS_PER_SHEET:
                    if len(wb.worksheets()) >= XLSX_MAX_SHEETS:
                        raise ValidationFailed(f"more than {XLSX_MAX_SHEETS * XLSX_ROWS_PER_SHEET:,} rows do not fit "
                                               "an XLSX workbook; choose csv or parquet")
                    sheet, row_in_sheet = _xlsx_sheet(wb, names), 0
                row_in_sheet += 1
                for c, col in enumerate(columns):
                    _xlsx_cell(sheet, row_in_sheet, c, col[r], fmt_date, fmt_ts)
                rows += 1
        wb.close()
        with open(tmp, "rb") as fh:
            shutil.copyfileobj(fh, sink, 1 << 20)
        return rows
    finally:
        os.unlink(tmp)


def _xlsx_sheet(wb: Any, names: list[str]) -> Any:
    sheet = wb.add_worksheet(f"Sheet{len(wb.worksheets()) + 1}")
    for c, name in enumerate(names):
        sheet.write_string(0, c, name)
    return sheet


def _xlsx_cell(sheet: Any, r: int, c: int, value: Any, fmt_date: Any, fmt_ts: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        sheet.write_datetime(r, c, value, fmt_ts)
    elif isinstance(value, dt.date):
        sheet.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), fmt_date)
    elif isinstance(value, decimal.Decimal):
        # a number when a double holds it exactly, else the exact text
        if decimal.Decimal(repr(float(value))) == value:
            sheet.write_number(r, c, float(value))
        else:
            sheet.write_string(r, c, str(value))
    elif isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 2**53:
            sheet.write_string(r, c, str(value))  # Excel's numbers are doubles: keep every digit
        else:
            sheet.write_number(r, c, value)
    elif isinstance(value, str):
        sheet.write_string(r, c, value)
    else:
        sheet.write_string(r, c, str(value))


WRITERS: dict[str, Callable[[Iterator[pa.RecordBatch], DigestSink, str, bool, str | None], int]] = {
    "csv": _csv, "parquet": _parquet, "json": _json, "ndjson": _ndjson, "xlsx": _xlsx}
