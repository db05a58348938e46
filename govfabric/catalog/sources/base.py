"""What every source kind shares: the seam (:class:`SourceKind`) and the secret handling around it.

A source URI never keeps its password: it is cut out and either sealed with the
workspace key or replaced by a reference to an environment variable. Connection
errors are rewritten so that they say what to fix and never echo the secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from govfabric.auth.secrets import SecretBox, open_secret, redact
from govfabric.errors import SourceError, ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Asset, Source
    from govfabric.catalog.service import Catalog, HarvestProgress

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: query parameters that carry a password (libpq's ``password``, drivers' aliases, key passphrases)
PASSWORD_PARAMS = frozenset({"password", "pass", "passwd", "pwd", "sslpassword", "ssl_password"})
#: rows per fetch when digesting a table
BATCH = 10_000


@dataclass(frozen=True)
class ParsedURI:
    kind: str
    uri: str  # without password
    password: str | None
    path: Path | None = None  # sqlite / duckdb / files


@dataclass(frozen=True)
class ConnParams:
    """A database source's connection, field by field: for drivers and DuckDB secrets, so no value
    is ever joined into a connection string."""

    host: str
    port: int
    user: str
    database: str
    password: str | None
    options: dict[str, str]


def duck_lit(value: str) -> str:
    from sqlglot import exp

    return exp.Literal.string(value).sql("duckdb")


def duck_ident(name: str) -> str:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql("duckdb")


def quote_double(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch_rows(con: Any, sql: str) -> Iterator[tuple[Any, ...]]:
    """Every row of ``sql`` on a DB-API connection, fetched in batches; the connection is closed
    when the rows are exhausted (or the generator is dropped)."""
    try:
        cur = con.execute(sql)
        while rows := cur.fetchmany(BATCH):
            yield from rows
    finally:
        con.close()


def select_all(a: Asset, quote_ident: Any = quote_double) -> str:
    """Every column of a harvested table in canonical order (ORDER BY every column), for digests."""
    cols = [quote_ident(c.name) for c in a.columns]
    loc = a.location or {}
    table = quote_ident(loc.get("table", a.name))
    if loc.get("schema"):
        table = f"{quote_ident(loc['schema'])}.{table}"
    order = ", ".join(str(i + 1) for i in range(len(cols)))
    return f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"  # noqa: S608 (quoted identifiers)


class SourceKind:
    """One kind of source: everything govfabric knows about it, in one class (one module per kind).

    Callers never compare kind names; they ask the registry: ``kind_of(source).duckdb_attach(…)``.
    Capabilities are class constants, as engines declare theirs.
    """

    NAME: ClassVar[str]
    #: how messages name the kind ("PostgreSQL"); the name itself when unset
    TITLE: ClassVar[str | None] = None
    #: URI schemes (lower case) that mean this kind
    SCHEMES: ClassVar[tuple[str, ...]] = ()
    #: a relational database whose tables are harvested (not a folder of files)
    IS_DATABASE: ClassVar[bool] = True
    #: DuckDB extension that reads it (None: DuckDB reads it natively)
    DUCKDB_EXTENSION: ClassVar[str | None] = None
    #: DuckDB optimizers that give wrong answers over this kind's scans (turned off while it is attached)
    DUCKDB_DISABLED_OPTIMIZERS: ClassVar[tuple[str, ...]] = ()
    #: Trino connector name (None: Trino cannot read it)
    TRINO_CONNECTOR: ClassVar[str | None] = None
    #: quality rules may run inside the source's own database
    RUNS_QUALITY_IN_PLACE: ClassVar[bool] = False
    #: sqlglot's dialect for SQL run on the source itself (kinds that run quality checks in place)
    SQL_DIALECT: ClassVar[str | None] = None
    #: the schema a table lives in when the harvest recorded none
    DEFAULT_SCHEMA: ClassVar[str] = "main"

    @classmethod
    def duckdb_extensions(cls, asset: Any) -> tuple[str, ...]:
        """The DuckDB extensions an engine loads to read ``asset`` of this kind: the kind's one.
        Each LOAD in a new database checks the extension file's signature (0.04–0.11 s)."""
        return (cls.DUCKDB_EXTENSION,) if cls.DUCKDB_EXTENSION else ()

    # -- registration ----------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: str) -> ParsedURI:
        raise NotImplementedError

    @classmethod
    def path(cls, src: Source) -> Path | None:
        """The local file or folder a source reads (None for a server)."""
        return None

    @classmethod
    def describe_missing(cls) -> str:
        return f"{cls.NAME} file"

    # -- reading -------------------------------------------------------------------------

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        raise NotImplementedError

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Asset) -> Iterator[tuple[Any, ...]]:
        """Every row of a table in canonical order (for content signatures)."""
        raise ValidationFailed(f"cannot sign {a.qualified_name}: {cls.NAME} sources have no rows")

    @classmethod
    def digest(cls, catalog: Catalog, src: Source, a: Asset, algo: str) -> str:
        """The content signature of one asset: rows as JSON lines, in canonical order."""
        import json

        from govfabric.catalog.signature import new_hash

        h = new_hash(algo)
        for row in cls.rows(catalog, src, a):
            h.update(json.dumps(row, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()

    # -- engines -------------------------------------------------------------------------

    @classmethod
    def duckdb_attach(cls, con: Any, alias: str, src: Source, box: SecretBox) -> None:
        """ATTACH the source read-only into a DuckDB connection under ``alias``."""
        raise SourceError(f"source {src.name} ({cls.NAME}) is not attached as a database")

    @classmethod
    def trino_properties(cls, src: Source) -> dict[str, str]:
        """The Trino catalog properties (without password and connector name)."""
        readable = sorted(n for n, k in _registry().items() if k.TRINO_CONNECTOR)
        raise SourceError(f"source {src.name} ({cls.NAME}) cannot be read through Trino; "
                          f"Trino reads {', '.join(readable)} sources — use engine duckdb")

    @classmethod
    def trino_extra_properties(cls, src: Source) -> dict[str, str]:
        """Connector settings beyond the connection (part of the catalog name's fingerprint)."""
        return {}

    # -- lineage -------------------------------------------------------------------------

    @classmethod
    def lineage_namespace(cls, src: Source) -> str:
        return src.uri  # never carries a password

    @classmethod
    def lineage_name(cls, src: Source, a: Asset) -> str:
        loc = a.location or {}
        return ".".join(p for p in (loc.get("schema"), loc.get("table", a.name)) if p)


def _registry() -> dict[str, type[SourceKind]]:
    from govfabric.catalog.sources import KINDS

    return KINDS


# -- shared helpers ------------------------------------------------------------------------

def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValidationFailed(
            f"source name {name!r}: use lowercase letters, digits and _, starting with a letter (max 63)"
        )
    return name


def split_query(query: str) -> tuple[str, str | None]:
    """The query string without any password parameter (matched however its name is encoded),
    and that password (percent-decoded, as libpq reads it)."""
    kept: list[str] = []
    password: str | None = None
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if unquote_plus(key).strip().lower() in PASSWORD_PARAMS:
            if unquote_plus(key).strip().lower() in ("password", "pass", "passwd", "pwd"):
                password = unquote(value)
            continue  # a key passphrase is dropped: keep it in the client's key file, not in the URI
        kept.append(pair)
    return "&".join(kept), password


def connection_params(uri: str, secret: str | None, box: SecretBox) -> ConnParams:
    from sqlalchemy.engine import make_url

    from govfabric.catalog.sources import kind_of

    url = make_url(uri)
    options = {k: (v[-1] if isinstance(v, tuple) else v) for k, v in url.query.items()}
    port = url.port if url.port else int(getattr(kind_of(url.drivername), "DEFAULT_PORT", 0))
    return ConnParams(url.host or "localhost", port, url.username or "", url.database or "",
                      open_secret(secret, box), options)


def dsn_with_secret(uri: str, secret: str | None, box: SecretBox) -> tuple[str, str | None]:
    """The URI to connect with (password put back) and the password, for redaction."""
    if not secret:
        return uri, None
    password = open_secret(secret, box) or ""
    parts = urlsplit(uri)
    user = parts.username or ""
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@" + parts.netloc.split("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), password


def seal_secret(password: str | None, password_env: str | None, box: SecretBox) -> str | None:
    if password_env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", password_env):
            raise ValidationFailed(f"--password-env {password_env!r} is not an environment variable name")
        return f"env:{password_env}"
    if password:
        return "fernet:" + box.seal(password)
    return None


def friendly_connect_error(kind: str, uri: str, exc: BaseException, password: str | None) -> SourceError:
    """Turn a driver error into one clear line that names the likely fix."""
    text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, password)
    text = text.replace('at "": ', "").replace('with parameters "": ', "")  # DuckDB's empty ATTACH path
    low = text.lower()
    if "password authentication failed" in low or "access denied" in low or "authentication" in low:
        hint = "wrong user name or password: update it with `govfabric source add --replace`"
    elif any(w in low for w in ("connection refused", "could not connect", "can't connect",
                                "timeout", "timed out", "name or service not known",
                                "could not translate host", "no route")):
        hint = "the host is unreachable: check host, port and that the server is running"
    elif "does not exist" in low or "unknown database" in low:
        hint = "the database does not exist on that server"
    else:
        hint = "check the URI and the server"
    return SourceError(f"cannot connect to {kind} source {redact(uri, password)}: {text} ({hint})")
