"""Harvest files and folders: CSV/TSV (encoding, delimiter and header inferred),
Parquet, XLSX (one asset per sheet), XML (row-oriented) and JSON/NDJSON.

Encodings: strict UTF-8 first, then GB18030 — a superset of GBK and GB2312 that
also holds characters outside them (刘䶮), so a GBK file is read correctly and a
GB18030 one is never mangled. Binary or undecodable files are refused by name; in a
folder they are skipped with a notice (:func:`harvest_folder`), as are symlinks that lead
outside the registered folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from govfabric.catalog.harvest.meta import ColumnMeta, TableMeta
from govfabric.errors import GovfabricError, SourceError, ValidationFailed

TEXT_EXT = {".csv", ".tsv", ".txt"}
SUPPORTED = TEXT_EXT | {".parquet", ".xlsx", ".xml", ".json", ".jsonl", ".ndjson"}
SAMPLE_BYTES = 256 * 1024
MAX_XML_BYTES = 512 * 1024 * 1024


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_encoding(path: Path) -> str:
    """'utf-8' or 'gb18030'; refuses binary and undecodable files."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        truncated = bool(fh.read(1))
    if b"\x00" in sample:
        raise SourceError(f"{path.name} looks binary (contains NUL bytes); not a text file")
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ("utf-8", "gb18030"):
        try:
            # a multi-byte character may straddle the end of a truncated sample
            sample.decode(enc) if not truncated else _decode_prefix(sample, enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise SourceError(f"{path.name} is neither UTF-8 nor GB18030/GBK text; convert it or remove it")


def _decode_prefix(sample: bytes, enc: str) -> str:
    for cut in range(0, 4):
        try:
            return sample[: len(sample) - cut].decode(enc)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError(enc, sample, 0, 1, "undecodable")


def sniff_csv(text: str, suffix: str) -> tuple[str, bool]:
    """The delimiter and whether the first row is a header."""
    lines = text.splitlines()[:50]
    head = "\n".join(lines)
    if suffix == ".tsv":
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = ","
    rows = list(csv.reader(io.StringIO(head), delimiter=delimiter))
    if len(rows) < 2:
        return delimiter, True
    first, rest = rows[0], rows[1:]

    def numeric(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False

    # A header has no numeric cells where the data has them, and no repeated names.
    header = len(set(first)) == len(first) and all(v.strip() for v in first)
    for i, v in enumerate(first):
        col = [r[i] for r in rest if i < len(r)]
        if numeric(v) and col and not all(numeric(x) for x in col if x):
            header = False
        if numeric(v) and col and all(numeric(x) for x in col if x):
            header = False
    return delimiter, header


def _polars_columns(df: Any) -> list[ColumnMeta]:
    return [ColumnMeta(str(name), str(dtype), True, None, i + 1) for i, (name, dtype) in enumerate(df.schema.items())]


INFER_ROWS = 10_000
#: a character no date, time or datetime polars infers can hold, nor a boolean or number: a CJK character
#: (or any other letter without case), or an ASCII letter outside true/false, inf/NaN, the exponent, the
#: ``T`` between date and time and the ``Z``/``UTC`` of a zone
_NEVER_DATE = r"[\p{Lo}BDGHJKMOPQVWXYbdghjkmopqvwxy]"


def read_delimited(path: Path, encoding: str, separator: str, header: bool) -> Any:
    """The CSV as polars reads it with dates inferred (``try_parse_dates``) from the first
    :data:`INFER_ROWS` rows, mostly at the cost of reading it without: polars tries its date formats
    on every text field it infers (≈ 7 µs a field: 0.37 s of CPU for the demo's 13-column, 13k-row
    files, 90% of their read). Dates only change columns that are text without them, and such a
    column stays text as soon as one inferred field can be nothing else (:data:`_NEVER_DATE`): when
    every text column has one in its first rows, the frame read without dates is the frame read with
    them (a test compares both). Otherwise the file is read again, with dates."""
    import polars as pl

    kwargs: dict[str, Any] = {"encoding": encoding, "separator": separator, "has_header": header,
                              "infer_schema_length": INFER_ROWS}
    df = pl.read_csv(path, **kwargs)
    return pl.read_csv(path, try_parse_dates=True, **kwargs) if maybe_dates(df) else df


def maybe_dates(df: Any) -> list[str]:
    """The text columns of ``df`` (read without dates) that polars might read as dates: those with no
    field that can be nothing but text in their first 1,000 rows (well inside :data:`INFER_ROWS`)."""
    import polars as pl

    head = df.head(1_000)
    return [name for name, dtype in df.schema.items()
            if dtype == pl.String and not head[name].str.contains(_NEVER_DATE).any()]


def harvest_text(path: Path, root: Path) -> TableMeta:
    enc = detect_encoding(path)
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    text = _decode_prefix(sample, "utf-8" if enc == "utf-8-sig" else enc)
    delimiter, header = sniff_csv(text, path.suffix.lower())
    try:
        df = read_delimited(path, "utf8" if enc.startswith("utf-8") else enc, delimiter, header)
    except Exception as exc:  # polars raises several error types for malformed CSV
        raise SourceError(f"{path.name}: cannot be read as delimited text ({str(exc).splitlines()[0]})") from exc
    return TableMeta(
        _schema_of(path, root), path.stem, "file", None, df.height, _polars_columns(df),
        location={"path": str(path), "format": "csv", "encoding": enc, "delimiter": delimiter,
                  "header": header},
    )


def harvest_parquet(path: Path, root: Path) -> TableMeta:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:
        raise SourceError(f"{path.name} is not a readable Parquet file ({exc})") from exc
    schema = meta.schema_arrow
    cols = [ColumnMeta(f.name, str(f.type), f.nullable, None, i + 1) for i, f in enumerate(schema)]
    return TableMeta(_schema_of(path, root), path.stem, "file", None, meta.metadata.num_rows, cols,
                     location={"path": str(path), "format": "parquet"})


def harvest_xlsx(path: Path, root: Path) -> list[TableMeta]:
    import polars as pl

    try:
        sheets = pl.read_excel(path, sheet_id=0, engine="calamine")
    except Exception as exc:
        raise SourceError(f"{path.name} is not a readable XLSX workbook ({str(exc).splitlines()[0]})") from exc
    out = []
    for sheet, df in sheets.items():
        out.append(TableMeta(_schema_of(path, root), f"{path.stem}.{sheet}", "sheet", None, df.height,
                             _polars_columns(df),
                             location={"path": str(path), "format": "xlsx", "sheet": sheet}))
    return out


#: the last XML content parsed, by its digest: a harvest reads a file, then its PII scan samples it
#: (and the demo imports the licences of the same file): (record tag, rows, the parsed root)
_LAST_XML: dict[bytes, tuple[str, list[dict[str, str]], Any]] = {}


def _xml_content(path: Path) -> tuple[bytes, bytes]:
    """The file's bytes and their digest (the cache key)."""
    import hashlib

    if path.stat().st_size > MAX_XML_BYTES:
        raise SourceError(f"{path.name} is larger than {MAX_XML_BYTES >> 20} MiB; split it")
    data = path.read_bytes()
    return data, hashlib.sha256(data).digest()


def read_xml_rows(path: Path) -> tuple[str, list[dict[str, str]]]:
    """Row-oriented XML: <root><record><field>…</field>…</record>…</root> (attributes too).
    The same content read again is not parsed again (the rows are shared: do not modify them)."""
    data, key = _xml_content(path)
    if (hit := _LAST_XML.get(key)) is None:
        _LAST_XML.clear()
        hit = _LAST_XML[key] = _parse_xml_rows(path, data)
    return hit[0], hit[1]


def parsed_xml_root(data: bytes) -> Any | None:
    """The parsed root element of XML content :func:`read_xml_rows` read last (shared: do not
    modify it), else None: a reader with its own checks and messages (the licence importer, on
    the file the demo has just harvested and scanned) need not parse the same bytes again."""
    import hashlib

    hit = _LAST_XML.get(hashlib.sha256(data).digest()) if _LAST_XML else None
    return hit[2] if hit is not None else None


def _parse_xml_rows(path: Path, data: bytes) -> tuple[str, list[dict[str, str]], Any]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data)
    except DefusedXmlException as exc:
        raise SourceError(f"{path.name} was refused: it uses forbidden XML constructs ({exc})") from exc
    except Exception as exc:
        raise SourceError(f"{path.name} is not well-formed XML ({exc})") from exc
    rows: list[dict[str, str]] = []
    record_tag = root[0].tag if len(root) else ""
    for rec in root:
        row = {k: v for k, v in rec.attrib.items()}
        for child in rec:
            row[child.tag] = (child.text or "").strip()
        rows.append(row)
    return record_tag, rows, root


def harvest_xml(path: Path, root: Path) -> TableMeta:
    import polars as pl

    tag, rows = read_xml_rows(path)
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    df = pl.DataFrame([{n: r.get(n) for n in names} for r in rows], schema={n: pl.String for n in names})
    cols = []
    for i, n in enumerate(names):
        inferred = _infer_text_type(df[n])
        cols.append(ColumnMeta(n, inferred, True, None, i + 1))
    return TableMeta(_schema_of(path, root), path.stem, "file", None, len(rows), cols,
                     location={"path": str(path), "format": "xml", "record": tag})


def _infer_text_type(series: Any) -> str:
    import polars as pl

    values = series.drop_nulls()
    values = values.filter(values != "")
    if values.len() == 0:
        return "String"
    for dtype, name in ((pl.Int64, "Int64"), (pl.Float64, "Float64")):
        if values.cast(dtype, strict=False).null_count() == 0:
            return name
    if values.str.to_date(strict=False).null_count() == 0:
        return "Date"
    return "String"


def harvest_json(path: Path, root: Path) -> TableMeta:
    import polars as pl

    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            df = pl.read_ndjson(path)
        else:
            df = pl.read_json(path)
    except Exception as exc:
        raise SourceError(f"{path.name} is not a JSON array of objects / NDJSON ({str(exc).splitlines()[0]})") \
            from exc
    return TableMeta(_schema_of(path, root), path.stem, "file", None, df.height, _polars_columns(df),
                     location={"path": str(path), "format": "json"})


def _schema_of(path: Path, root: Path) -> str:
    rel = path.parent.relative_to(root) if root.is_dir() else Path(".")
    return "" if str(rel) == "." else ".".join(rel.parts)


def inside_folder(path: Path, root: Path) -> bool:
    """Whether ``path``, symlinks followed, is ``root`` itself (a one-file source) or lies inside it.
    A symlink out of a registered folder would put another department's file under this one's."""
    real, base = path.resolve(), root.resolve()
    return real == base or real.is_relative_to(base)


def walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Candidate files under ``root`` with the reason to skip each (``None``: harvest it).

    Hidden and unsupported files are passed over silently; symlinks leading outside the folder,
    dangling symlinks and special files (a FIFO would block the harvest) come with a notice."""
    for p in sorted(root.rglob("*")):
        if p.name.startswith(".") or p.suffix.lower() not in SUPPORTED:
            continue
        if not p.exists():
            yield p, "a symlink to nothing (dangling)"
            continue
        if not inside_folder(p, root):
            yield p, "a symlink leading outside the source folder"
            continue
        if p.is_dir():
            continue
        yield p, None if p.is_file() else "not a regular file"


def iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for p, problem in walk(root):
        if problem is None:
            yield p


def harvest_folder(root: Path, signature_algo: str = "sha256", progress: Callable[[str, int, int], None] | None = None,
                   notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
    """Every asset of a files source. A file that cannot be harvested (outside the folder, binary,
    undecodable, malformed, unreadable) is skipped and named in ``notices`` with the reason; the
    rest of the folder is harvested. A one-file source that cannot be read is an error."""
    if root.is_file():
        return harvest_path(root, root, signature_algo)
    found = list(walk(root))
    metas: list[TableMeta] = []
    for i, (f, problem) in enumerate(found):
        if progress:
            progress(f.name, i, len(found))
        if problem is None:
            try:
                metas.extend(harvest_path(f, root, signature_algo))
                continue
            except (GovfabricError, OSError, UnicodeError) as exc:
                problem = str(exc)
        if notices is not None:
            notices.append({"file": f.relative_to(root).as_posix(), "reason": problem})
    return metas


def harvest_path(path: Path, root: Path, signature_algo: str = "sha256") -> list[TableMeta]:
    """All assets in one file, each signed with the file's digest."""
    suffix = path.suffix.lower()
    if suffix in TEXT_EXT:
        metas = [harvest_text(path, root)]
    elif suffix == ".parquet":
        metas = [harvest_parquet(path, root)]
    elif suffix == ".xlsx":
        metas = harvest_xlsx(path, root)
    elif suffix == ".xml":
        metas = [harvest_xml(path, root)]
    elif suffix in (".json", ".jsonl", ".ndjson"):
        metas = [harvest_json(path, root)]
    else:
        raise ValidationFailed(f"{path.name}: unsupported file type {suffix}; supported: "
                               f"{', '.join(sorted(SUPPORTED))}")
    digest = file_digest(path, signature_algo)
    for m in metas:
        m.content_signature, m.signature_algo = digest, signature_algo
    return metas
