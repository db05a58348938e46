"""Folders (or single files) of CSV, Excel, Parquet, JSON, XML: harvested file by file, read by DuckDB.

The stored URI is ``file://`` followed by the real path, not percent-encoded: a folder named
``社保 数据`` is stored, shown and opened as it is (``Path.as_uri()`` would store ``%E7%A4%BE…``,
which no reader could open again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import unquote

from govfabric.catalog.sources.base import ParsedURI, SourceKind
from govfabric.errors import SourceError

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog, HarvestProgress

FILE_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".xml", ".json", ".jsonl", ".ndjson")
PREFIX = "file://"


class Files(SourceKind):
    NAME: ClassVar[str] = "files"
    SCHEMES: ClassVar[tuple[str, ...]] = ("file", "")
    IS_DATABASE: ClassVar[bool] = False
    DUCKDB_EXTENSION: ClassVar[str | None] = "excel"

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
