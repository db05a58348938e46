"""Folders (or single files) of CSV, Excel, Parquet, JSON, XML: harvested file by file, read by DuckDB.

The stored URI is ``file://`` followed by the real path, not percent-encoded: a folder named
``社保 数据`` is stored, shown and opened as it is (``Path.as_uri()`` would store ``%E7%A4%BE…``,
which no reader could open again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from govfabric.catalog.sources.base import ParsedURI, SourceKind, duck_lit
from govfabric.errors import SourceError

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog, HarvestProgress

FILE_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".xml", ".json", ".jsonl", ".ndjson")
PREFIX = "file://"
#: copies of source files in the workspace cache (UTF-8 text, XML rows) hold the source's data: owner only
CACHE_MODE = 0o600
#: part of an XML copy's cache key: a change to how rows are read or written must not reuse old copies
XML_COPY_VERSION = 1


class Files(SourceKind):
    NAME: ClassVar[str] = "files"
    SCHEMES: ClassVar[tuple[str, ...]] = ("file", "")
    IS_DATABASE: ClassVar[bool] = False
    DUCKDB_EXTENSION: ClassVar[str | None] = "excel"

    @classmethod
    def duckdb_extensions(cls, asset: Any) -> tuple[str, ...]:
        """``excel`` for a workbook only: DuckDB reads the other file types itself."""
        return ("excel",) if (asset.location or {}).get("format") == "xlsx" else ()

    @classmethod
    def parse(cls, raw: str) -> ParsedURI:
        return cls.from_path(Path(unquote(raw[len(PREFIX):]) if raw.lower().startswith(PREFIX) else raw))

    @classmethod
    def from_path(cls, path: Path) -> ParsedURI:
        path = path.expanduser().resolve()
        return ParsedURI(cls.NAME, PREFIX + path.as_posix(), None, path)

    @classmethod
    def path(cls, src: Source) -> Path:
        raw = src.uri.removeprefix(PREFIX)
        path = Path(raw)
        if not path.exists() and "%" in raw and Path(unquote(raw)).exists():
            return Path(unquote(raw))  # registered before real paths were stored (percent-encoded)
        return path

    @classmethod
    def describe_missing(cls) -> str:
        return "file or folder"

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        from govfabric.catalog.harvest.files import harvest_folder

        path = cls.path(src)
        if not path.exists():
            raise SourceError(f"{path} does not exist any more; re-register the source or restore the files")
        algo = (src.options or {}).get("signature_algo", "sha256")
        return harvest_folder(path, algo, progress, notices)

    @classmethod
    def digest(cls, catalog: Catalog, src: Source, a: Asset, algo: str) -> str:
        from govfabric.catalog.harvest.files import file_digest
        from govfabric.catalog.signature import new_hash

        new_hash(algo)
        return file_digest(Path(a.location["path"]), algo)

    # -- engines -------------------------------------------------------------------------

    @classmethod
    def duckdb_view(cls, con: Any, target: str, src: Source, a: Asset, cache: Path) -> str:
        """Create ``target`` (a quoted DuckDB name) over the asset's file with the reader of its type;
        returns the checked path, which must stay readable once external access is off."""
        from govfabric.catalog.harvest.files import inside_folder

        loc = a.location or {}
        path = loc["path"]
        if not Path(path).exists():
            raise SourceError(f"{a.qualified_name}: {path} does not exist any more; re-harvest the source")
        if not inside_folder(Path(path), cls.path(src)):
            raise SourceError(f"{a.qualified_name}: {path} now leads outside the source folder (a symlink); "
                              "remove the link and re-harvest the source")
        path = str(Path(path).resolve())  # DuckDB reads the checked file, not whatever a link points to later
        fmt = loc.get("format")
        if fmt == "xml":
            path = str(xml_copy(Path(path), [c.name for c in a.columns], cache / "xml"))
        if fmt == "csv" and not str(loc.get("encoding", "utf-8")).startswith("utf-8"):
            # DuckDB's encodings extension mis-decodes multi-byte characters that straddle its
            # buffer boundary; read a UTF-8 copy kept in the workspace cache instead.
            path = str(transcoded(Path(path), str(loc["encoding"]), cache / "utf8"))
        reader = _duckdb_reader(fmt, path, loc)
        if reader is None:
            raise SourceError(f"{a.qualified_name}: no DuckDB reader for format {fmt!r}")
        con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM {reader}")  # noqa: S608 (quoted)
        return path

    @classmethod
    def lineage_namespace(cls, src: Source) -> str:
        return cls.path(src).as_uri()  # OpenLineage wants a URI: percent-encoded here, never in the store

    @classmethod
    def lineage_name(cls, src: Source, a: Asset) -> str:
        loc = a.location or {}
        path = loc.get("path")
        if not path:
            return a.qualified_name.split(".", 1)[-1]
        p = Path(path)
        try:
            name = p.relative_to(cls.path(src)).as_posix() if p.is_absolute() else p.as_posix()
        except ValueError:
            name = p.as_posix()
        return f"{name}#{loc['sheet']}" if loc.get("sheet") else name


def _duckdb_reader(fmt: str | None, path: str, loc: dict[str, Any]) -> str | None:
    """DuckDB's table function for a file type (every value a SQL literal), or None."""
    if fmt == "csv":
        return (f"read_csv({duck_lit(path)}, delim={duck_lit(loc.get('delimiter', ','))}, "
                f"header={'true' if loc.get('header', True) else 'false'}, sample_size=-1)")
    if fmt in ("parquet", "xml"):  # xml: its Parquet copy (xml_copy)
        return f"read_parquet({duck_lit(path)})"
    if fmt == "xlsx":
        return f"read_xlsx({duck_lit(path)}, sheet={duck_lit(loc['sheet'])}, header=true)"
    if fmt == "json":
        return f"read_json_auto({duck_lit(path)})"
    return None


def xml_copy(path: Path, names: list[str], cache: Path) -> Path:
    """DuckDB has no XML reader: a Parquet copy of the rows harvest read (the columns ``names``, as
    text; an empty field is NULL), kept in the workspace cache by content and columns, so an engine
    set-up reads it instead of parsing the XML again. Built without pandas (pyarrow's ``pa.array``
    of a list imports it, ~0.3 s, as does DuckDB's ``register``)."""
    import hashlib
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from govfabric.catalog.harvest.files import read_xml_rows

    with path.open("rb") as fh:  # streamed: an oversized file is refused by read_xml_rows, not read here
        key = hashlib.file_digest(fh, "sha256")
    key.update(f"\0{XML_COPY_VERSION}\0{chr(0).join(names)}".encode())
    target = cache / f"{key.hexdigest()[:24]}.parquet"
    if target.exists():
        return target
    _, rows = read_xml_rows(path)
    columns = []
    for n in names:
        b = pa.lib.StringBuilder()
        b.append_values([r.get(n) or None for r in rows])
        columns.append(b.finish())
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        pq.write_table(pa.Table.from_arrays(columns, names=names), tmp)
        tmp.chmod(CACHE_MODE)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def transcoded(path: Path, encoding: str, cache: Path) -> Path:
    """A UTF-8 copy of a text file, cached by path, size and modification time."""
    import hashlib

    st = path.stat()
    key = hashlib.sha256(f"{path}:{st.st_size}:{st.st_mtime_ns}:{encoding}".encode()).hexdigest()[:24]
    target = cache / f"{key}.csv"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with path.open("r", encoding=encoding, newline="") as src, tmp.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    tmp.chmod(CACHE_MODE)
    tmp.replace(target)
    return target
