"""Database servers reached over the network (PostgreSQL, MySQL): what they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlunsplit

from govfabric.auth.secrets import SecretBox
from govfabric.catalog.sources.base import (
    PASSWORD_PARAMS,
    ConnParams,
    ParsedURI,
    SourceKind,
    connection_params,
    duck_ident,
    duck_lit,
    friendly_connect_error,
)
from govfabric.errors import GovfabricError, ValidationFailed

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from govfabric.catalog.harvest.meta import TableMeta
    from govfabric.catalog.models import Source
    from govfabric.catalog.service import Catalog, HarvestProgress

class ServerKind(SourceKind):
    DEFAULT_PORT: ClassVar[int]
    #: DuckDB's secret/ATTACH type name
    DUCKDB_TYPE: ClassVar[str]
    #: OpenLineage's scheme for the server's namespace
    LINEAGE_SCHEME: ClassVar[str]

    @classmethod
    def url(cls, raw: str) -> URL:
        """The URI parsed by SQLAlchemy (``make_url``): user and password percent-decoded."""
        from sqlalchemy.engine import make_url

        scheme = cls.NAME
        try:
            url = make_url(raw)
        except Exception:
            raise ValidationFailed(f"{scheme} URI is malformed (is the port a number?): "
                                   f"{scheme}://user@host:port/database") from None
        if url.host and "@" in url.host:
            raise ValidationFailed(f"the {scheme} URI has an @ in its password or user name; "
                                   "percent-encode it as %40 (or give the password with --password-env)")
        return url

    @classmethod
    def parse(cls, raw: str) -> ParsedURI:
        """Split off the password (from the user part or a query parameter); fill in the default port."""
        scheme = cls.NAME
        url = cls.url(raw)
        if not url.host:
            raise ValidationFailed(f"{scheme} URI needs a host: {scheme}://user@host:port/database")
        if not (url.database or "").strip("/"):
            raise ValidationFailed(f"{scheme} URI needs a database name: {scheme}://user@host:port/database")
        password = url.password
        kept: list[tuple[str, str]] = []
        for key, values in url.query.items():
            name = key.strip().lower()
            for value in values if isinstance(values, tuple) else (values,):
                if name not in PASSWORD_PARAMS:
                    kept.append((key, value))
                elif name in ("password", "pass", "passwd", "pwd"):
                    # a key passphrase is dropped: keep it in the client's key file, not in the URI
                    if password is not None and password != value:
                        raise ValidationFailed(f"the {scheme} URI has two different passwords (in the user part "
                                               "and in a query parameter); give one")
                    password = value
        netloc = quote(url.username, safe="") + "@" if url.username else ""
        host = url.host if ":" not in url.host else f"[{url.host}]"
        netloc += f"{host}:{url.port or cls.DEFAULT_PORT}"
        clean = urlunsplit((scheme, netloc, "/" + quote(url.database or "", safe="/"), urlencode(kept), ""))
        return ParsedURI(scheme, clean, password or None)

    @classmethod
    def params(cls, catalog: Catalog, src: Source) -> ConnParams:
        return connection_params(src.uri, src.secret, catalog.fabric.secrets)

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        try:
            return cls.harvest_with(catalog, src)
        except GovfabricError:
            raise
        except Exception as exc:
            raise friendly_connect_error(cls.NAME, src.uri, exc, catalog.connection_uri(src)[1]) from None

    @classmethod
    def harvest_with(cls, catalog: Catalog, src: Source) -> list[TableMeta]:
        """The source's tables and columns, read with its restored connection."""
        raise NotImplementedError

    @classmethod
    def rows(cls, catalog: Catalog, src: Source, a: Any) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    # -- engines -------------------------------------------------------------------------

    @classmethod
    def attach_path(cls, params: ConnParams) -> str:
        """Extra connection options for ATTACH's path (never a password); empty by default."""
        return ""

    @classmethod
    def attach_statements(cls, alias: str, params: ConnParams) -> list[str]:
        """ATTACH through a temporary DuckDB secret: every value a SQL literal in a sqlglot-escaped
        ``CREATE TEMPORARY SECRET``, never joined into a connection string, so a password with spaces,
        quotes or ``key=value`` text stays one value and is not echoed by DuckDB's connection errors
        (they show the ATTACH path, here empty). The secret is dropped once attached: the attached
        catalog keeps its own connection."""
        typ = cls.DUCKDB_TYPE
        name = duck_ident(f"gf_secret_{alias}")
        fields = [("HOST", duck_lit(params.host)), ("PORT", str(int(params.port))),
                  ("DATABASE", duck_lit(params.database)), ("USER", duck_lit(params.user))]
        if params.password:
            fields.append(("PASSWORD", duck_lit(params.password)))
        return [
            f"CREATE OR REPLACE TEMPORARY SECRET {name} (TYPE {typ}, {', '.join(f'{k} {v}' for k, v in fields)})",
            f"ATTACH {duck_lit(cls.attach_path(params))} AS {duck_ident(alias)} (TYPE {typ}, SECRET {name}, "
            "READ_ONLY)",
            f"DROP TEMPORARY SECRET {name}",
        ]

    @classmethod
    def duckdb_attach(cls, con: Any, alias: str, src: Source, box: SecretBox) -> None:
        params = connection_params(src.uri, src.secret, box)
        try:
            for stmt in cls.attach_statements(alias, params):
                con.execute(stmt)
        except GovfabricError:
            raise
        except Exception as exc:
            raise friendly_connect_error(cls.NAME, src.uri, exc, params.password) from None

    # -- lineage -------------------------------------------------------------------------

    @classmethod
    def lineage_namespace(cls, src: Source) -> str:
        url = cls.url(src.uri)
        return f"{cls.LINEAGE_SCHEME}://{(url.host or '').lower()}:{url.port}"
