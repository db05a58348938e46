"""Database servers reached over the network (PostgreSQL, MySQL): what they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from govfabric.auth.secrets import SecretBox
from govfabric.catalog.sources.base import (
    ConnParams,
    ParsedURI,
    SourceKind,
    connection_params,
    duck_ident,
    duck_lit,
    friendly_connect_error,
    split_query,
)
from govfabric.errors import GovfabricError, ValidationFailed

if TYPE_CHECKING:
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
    def parse(cls, raw: str) -> ParsedURI:
        """Split off the password (from the user part or a query parameter); fill in the default port."""
        scheme = cls.NAME
        parts = urlsplit(raw)
        if not parts.hostname:
            raise ValidationFailed(f"{scheme} URI needs a host: {scheme}://user@host:port/database")
        if not parts.path.strip("/"):
            raise ValidationFailed(f"{scheme} URI needs a database name: {scheme}://user@host:port/database")
        password = unquote(parts.password) if parts.password is not None else None
        query, in_query = split_query(parts.query)
        if in_query is not None:
            if password is not None and password != in_query:
                raise ValidationFailed(f"the {scheme} URI has two different passwords (in the user part and "
                                       "in a query parameter); give one")
            password = in_query
        netloc = quote(unquote(parts.username or ""), safe="") + "@" if parts.username else ""
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        try:
            port = parts.port
        except ValueError:
            raise ValidationFailed(f"the {scheme} URI's port is not a number") from None
        netloc += f"{host}:{port or cls.DEFAULT_PORT}"
        clean = urlunsplit((scheme, netloc, parts.path, query, ""))
        return ParsedURI(scheme, clean, password or None)

    @classmethod
    def params(cls, catalog: Catalog, src: Source) -> ConnParams:
        return connection_params(src.uri, src.secret, catalog.fabric.secrets)

    @classmethod
    def harvest(cls, catalog: Catalog, src: Source, progress: HarvestProgress | None = None,
                notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        dsn, password = catalog.connection_uri(src)
        try:
            return cls.harvest_dsn(dsn)
        except GovfabricError:
            raise
        except Exception as exc:
            raise friendly_connect_error(cls.NAME, src.uri, exc, password) from None

    @classmethod
    def harvest_dsn(cls, dsn: str) -> list[TableMeta]:
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
        parts = urlsplit(src.uri)
        return f"{cls.LINEAGE_SCHEME}://{parts.hostname}:{parts.port}"
