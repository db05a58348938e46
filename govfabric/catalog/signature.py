"""Content signatures (§8.4.4.2c): a digest of the data itself, SHA-256 or SM3.

Files are digested byte for byte. Tables are digested row by row in a canonical
order (ORDER BY every column) so that the same content gives the same signature
wherever it is read from; each row is serialised as JSON of its values.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govfabric.catalog.harvest.files import file_digest
from govfabric.catalog.models import Asset, Source
from govfabric.errors import ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.service import Catalog

ALGOS = ("sha256", "sm3")
BATCH = 10_000


def new_hash(algo: str) -> Any:
    if algo not in ALGOS:
        raise ValidationFailed(f"unknown signature algorithm {algo!r}; use sha256 or sm3")
    return hashlib.new(algo)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_all(a: Asset, quote: Any = _quote) -> str:
    cols = [quote(c.name) for c in a.columns]
    loc = a.location or {}
    table = quote(loc.get("table", a.name))
    if loc.get("schema"):
        table = f"{quote(loc['schema'])}.{table}"
    order = ", ".join(str(i + 1) for i in range(len(cols)))
    return f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"  # noqa: S608 (quoted identifiers)


def _fetch(con: Any, a: Asset) -> Iterator[tuple[Any, ...]]:
    """Every row of the asset in canonical order, in batches; closes the connection."""
    try:
        cur = con.execute(_select_all(a))
        while rows := cur.fetchmany(BATCH):
            yield from rows
    finally:
        con.close()


def _rows(catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
    if src.kind == "sqlite":
        yield from _fetch(sqlite3.connect(f"file:{src.uri.split(':///', 1)[1]}?mode=ro", uri=True), a)
    elif src.kind == "duckdb":
        import duckdb

        catalog.fabric.release_engines()  # DuckDB refuses a second handle on a file the engine attached
        yield from _fetch(duckdb.connect(src.uri.split(":///", 1)[1], read_only=True), a)
    elif src.kind == "postgresql":
        import psycopg

        dsn, _ = catalog.connection_uri(src)
        with psycopg.connect(dsn) as con, con.cursor(name="govfabric_sign") as cur:
            cur.execute(_select_all(a))
            while rows := cur.fetchmany(BATCH):
                yield from rows
    elif src.kind == "mysql":
        from urllib.parse import unquote, urlsplit

        import pymysql

        dsn, _ = catalog.connection_uri(src)
        p = urlsplit(dsn)
        con = pymysql.connect(host=p.hostname, port=p.port or 3306, user=unquote(p.username or ""),
                              password=unquote(p.password or ""), database=p.path.strip("/"),
                              cursorclass=pymysql.cursors.SSCursor)
        try:
            with con.cursor() as cur:
                cur.execute(_select_all(a, lambda n: "`" + n.replace("`", "``") + "`"))
                while rows := cur.fetchmany(BATCH):
                    yield from rows
        finally:
            con.close()
    else:
        raise ValidationFailed(f"cannot sign {a.qualified_name}: unsupported source kind {src.kind}")


def sign_asset(catalog: Catalog, src: Source, a: Asset, algo: str) -> str:
    if src.kind == "files":
        new_hash(algo)
        return file_digest(Path(a.location["path"]), algo)
    h = new_hash(algo)
    for row in _rows(catalog, src, a):
        h.update(json.dumps(row, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()
