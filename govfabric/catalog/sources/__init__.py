"""Source kinds behind one seam: one module per kind, one registry.

Adding a kind means writing its module (a :class:`SourceKind` subclass) and adding one line to
:data:`KINDS`. Callers never compare kind names: ``kind_of(source).duckdb_attach(…)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from govfabric.catalog.sources.base import (
    NAME_RE,
    PASSWORD_PARAMS,
    ConnParams,
    ParsedURI,
    SourceKind,
    check_name,
    connection_params,
    dsn_with_secret,
    friendly_connect_error,
    seal_secret,
    split_query,
)
from govfabric.catalog.sources.duckdb import DuckDB
from govfabric.catalog.sources.files import FILE_EXTENSIONS, Files
from govfabric.catalog.sources.local import LocalDatabaseKind
from govfabric.catalog.sources.mysql import MySQL
from govfabric.catalog.sources.postgresql import PostgreSQL
from govfabric.catalog.sources.sqlite import SQLite
from govfabric.errors import ValidationFailed

KINDS: dict[str, type[SourceKind]] = {
    "postgresql": PostgreSQL,
    "mysql": MySQL,
    "sqlite": SQLite,
    "duckdb": DuckDB,
    "files": Files,
}

SQL_KINDS = tuple(n for n, k in KINDS.items() if k.IS_DATABASE)
DEFAULT_PORTS = {n: k.DEFAULT_PORT for n, k in KINDS.items() if hasattr(k, "DEFAULT_PORT")}
#: a libpq ``key=value`` connection string given where a URI belongs
_CONNINFO_RE = re.compile(r"^\s*(host|hostaddr|dbname|user|port|password|service)\s*=", re.I)

__all__ = ["DEFAULT_PORTS", "FILE_EXTENSIONS", "KINDS", "NAME_RE", "PASSWORD_PARAMS", "SQL_KINDS", "ConnParams",
           "ParsedURI", "SourceKind", "check_name", "connection_params", "dsn_with_secret",
           "friendly_connect_error", "kind_of", "parse_uri", "seal_secret", "split_query"]


def kind_of(source: Any) -> type[SourceKind]:
    """The kind class of a source (or of a kind name or a URI scheme)."""
    name = source if isinstance(source, str) else source.kind
    kind = KINDS.get(name) or next((k for k in KINDS.values() if name in k.SCHEMES and name), None)
    if kind is None:
        raise ValidationFailed(f"unknown source kind {name!r}; known: {', '.join(KINDS)}")
    return kind


def _local_database(path: Path) -> type[LocalDatabaseKind] | None:
    """A bare path that is a database file: by its header (or, if unreadable, its suffix)."""
    local = [k for k in KINDS.values() if issubclass(k, LocalDatabaseKind)]
    path = path.expanduser()
    if path.is_file():
        try:
            with path.open("rb") as f:
                head = f.read(64)
        except OSError:
            head = b""
        for k in local:
            if k.sniff(head):
                return k
        if head:
            named = [k for k in local if path.suffix.lower() in k.SUFFIXES]
            if named:
                raise ValidationFailed(f"{path} is named like a {named[0].NAME} database but is not one "
                                       "(its header does not match); give the right file")
            return None
    return next((k for k in local if path.suffix.lower() in k.SUFFIXES), None)


def parse_uri(raw: str) -> ParsedURI:
    """Classify a source URI (or a bare path) and split off its password."""
    raw = raw.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if not scheme and _CONNINFO_RE.match(raw):
        raise ValidationFailed("a key=value connection string is not accepted (it would be kept as text); "
                               "give a URI: postgresql://user@host:port/database with --password-env")
    if not scheme and raw:
        db = _local_database(Path(raw))
        if db is not None:
            return db.from_path(Path(raw))
    for kind in KINDS.values():
        if scheme in kind.SCHEMES:
            return kind.parse(raw)
    schemes = ", ".join(f"{k.NAME}://" for k in KINDS.values() if k.IS_DATABASE)
    raise ValidationFailed(f"unsupported source URI scheme {scheme!r}; use {schemes} or a file/folder path")
