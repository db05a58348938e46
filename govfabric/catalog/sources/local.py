"""Database files on this machine (SQLite, DuckDB): what they share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from govfabric.auth.secrets import SecretBox
from govfabric.catalog.sources.base import ParsedURI, SourceKind, duck_ident, duck_lit, friendly_connect_error
from govfabric.errors import GovfabricError, SourceError, ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.models import Source


class LocalDatabaseKind(SourceKind):
    #: file name suffixes that name this kind when a bare path is given
    SUFFIXES: ClassVar[tuple[str, ...]] = ()
    DUCKDB_TYPE: ClassVar[str]

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Whether a file's first bytes are this kind's header."""
        raise NotImplementedError

    @classmethod
    def parse(cls, raw: str) -> ParsedURI:
        """SQLAlchemy's convention: ``scheme:///relative/path``, ``scheme:////absolute/path`` — or a bare path."""
        if "://" not in raw:
            return cls.from_path(Path(raw))
        scheme, rest = raw.split("://", 1)
        if not rest.startswith("/") or len(rest) < 2:
            raise ValidationFailed(f"{scheme} URI must look like {scheme}:///relative.db or {scheme}:////abs.db")
        return cls.from_path(Path(rest[1:]))

    @classmethod
    def from_path(cls, path: Path) -> ParsedURI:
        path = path.expanduser().resolve()
        return ParsedURI(cls.NAME, f"{cls.NAME}:///{path}", None, path)

    @classmethod
    def path(cls, src: Source) -> Path:
        return Path(src.uri.split(":///", 1)[1])

    @classmethod
    def existing_path(cls, src: Source) -> Path:
        path = cls.path(src)
        if not path.exists():
            raise SourceError(f"source {src.name}: {path} does not exist any more; restore the file or "
                              "re-register the source")
        return path

    @classmethod
    def duckdb_attach(cls, con: Any, alias: str, src: Source, box: SecretBox) -> None:
        path = cls.existing_path(src)
        try:
            con.execute(f"ATTACH {duck_lit(str(path))} AS {duck_ident(alias)} (TYPE {cls.DUCKDB_TYPE}, READ_ONLY)")
        except GovfabricError:
            raise
        except Exception as exc:
            raise friendly_connect_error(cls.NAME, src.uri, exc, None) from None
