"""Trino, a real server: the engine for when users outgrow one machine.

govfabric generates a Trino catalog per registered source (dynamic catalog management,
``CREATE CATALOG … USING postgresql``) and sends the SQL the pipeline rewrote for the
``trino`` dialect. Trino never sees a user's SQL: the pipeline has already refused
everything outside the allow-list (``system.*``, ``TABLE(system.query(…))``, physical
names), so the server only runs queries over the catalogs govfabric made.

A catalog is named ``gf_<source>_<fingerprint>``; the fingerprint covers the source's URI
and its stored secret reference (never the password itself), so a re-registered source
gets a new catalog instead of silently reading with old credentials. Operators who run
Trino without dynamic catalogs render static files with :meth:`TrinoEngine.catalog_properties`.
Files stay with DuckDB: Trino's hive connector needs a directory per table and reads CSV
columns only as untyped VARCHAR, so results would not match DuckDB's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import pyarrow as pa
from sqlglot import exp

from govfabric.auth.secrets import redact
from govfabric.canonical import canonical
from govfabric.catalog.sources import KINDS, kind_of
from govfabric.errors import ConfigError, GovfabricError, QueryRejected, SourceError
from govfabric.virtualization.engines.base import Binding, Engine, SourceConnector, SqlAccess, run_with_timeout

if TYPE_CHECKING:
    from govfabric.catalog.models import Source

CATALOG_PREFIX = "gf_"
FETCH_ROWS = 10_000
#: the client cancels a query this long after the server-side limit should have stopped it
CLIENT_GRACE_S = 2.0
ADMIN_TIMEOUT_S = 60.0
#: Trino connectors per source kind, as each kind declares (``SourceKind.TRINO_CONNECTOR``)
CONNECTORS = {n: k.TRINO_CONNECTOR for n, k in KINDS.items() if k.TRINO_CONNECTOR}
_SOURCE_ERRORS = ("JDBC_ERROR", "GENERIC_INTERNAL_ERROR", "REMOTE_TASK_ERROR")


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("trino")


def _lit(value: str) -> str:
    return exp.Literal.string(value).sql("trino")


def _timeout_message(timeout_s: float) -> str:
    return (f"the query ran longer than {timeout_s:g} s (the query timeout) and was stopped; "
            "filter or aggregate more")


class TrinoEngine(Engine):
    NAME: ClassVar[str] = "trino"
    DIALECT: ClassVar[str] = "trino"
    SOURCE_KINDS: ClassVar[frozenset[str]] = frozenset(CONNECTORS)

    def __init__(self, settings: Any, connector: SourceConnector) -> None:
        super().__init__(settings, connector)
        self._con: Any = None
        self._timeout_set: str | None = None
        #: catalog → sha256 of the password it was created with, in memory only
        self._ready: dict[str, str] = {}
        self._secrets: set[str] = set()

    # -- naming and catalog configuration ------------------------------------------------

    @staticmethod
    def catalog_name(source: Source) -> str:
        """``gf_<source>_<fingerprint of URI, secret reference and type properties>``: deterministic
        per registration; a catalog made with other type properties is not reused."""
        kind_props = canonical(kind_of(source).trino_extra_properties(source)).decode()
        fp = hashlib.sha256(f"{source.uri}\0{source.secret or ''}\0{kind_props}".encode()).hexdigest()[:10]
        return f"{CATALOG_PREFIX}{source.name}_{fp}"

    @classmethod
    def physical_ref(cls, binding: Binding) -> tuple[str, str, str] | None:
        src, a = binding.source, binding.asset
        if src.kind not in cls.SOURCE_KINDS:
            return None
        loc = a.location or {}
        # Trino folds identifiers to lower case; catalogs match remote names case-insensitively
        return (cls.catalog_name(src), str(loc.get("schema", "public")).lower(),
                str(loc.get("table", a.name)).lower())

    @classmethod
    def _base_properties(cls, source: Source) -> dict[str, str]:
        """The kind's connection properties. PostgreSQL's extra connector properties (type mapping:
        decimal defaults, unsupported types as varchar) go in ``PostgreSQL.trino_extra_properties``
        (govfabric/catalog/sources/postgresql.py)."""
        return kind_of(source).trino_properties(source)

    @classmethod
    def catalog_properties(cls, source: Source) -> str:
        """A static ``etc/catalog/<name>.properties`` for Trino without dynamic catalogs.

        The password is an ``${ENV:…}`` reference resolved by the Trino server: the source's
        own variable when registered with ``--password-env``, else ``GF_<SOURCE>_PASSWORD``.
        """
        props = {"connector.name": CONNECTORS.get(source.kind, source.kind), **cls._base_properties(source)}
        if source.secret:
            var = source.secret.removeprefix("env:") if source.secret.startswith("env:") \
                else f"GF_{source.name.upper()}_PASSWORD"
            props["connection-password"] = f"${{ENV:{var}}}"
        head = [f"# govfabric source {source.name}: save as etc/catalog/{cls.catalog_name(source)}.properties",
                "# (the file name is the catalog name govfabric queries)"]
        return "\n".join(head + [f"{k}={v}" for k, v in props.items()]) + "\n"

    def _dynamic_properties(self, source: Source) -> tuple[dict[str, str], str]:
        props = self._base_properties(source)
        password = self.connector.password(source)
        if password:
            props["connection-password"] = password
            self._secrets.add(password)
        return props, hashlib.sha256((password or "").encode()).hexdigest()

    # -- the client ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        url = self.settings.trino_url
        if not url:
            raise ConfigError("engine trino needs a server: set trino_url (GOVFABRIC_TRINO_URL, or trino_url "
                              "in the workspace's config.toml) to its URL, e.g. http://127.0.0.1:8080")
        return url.rstrip("/")

    def _client(self) -> Any:
        if self._con is not None:
            return self._con
        url = self.url
        try:
            import trino
        except ModuleNotFoundError as exc:
            raise ConfigError("engine trino needs the Trino client: pip install trino") from exc
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            raise ConfigError(f"trino_url {url!r} must look like http://host:port")
        self._con = trino.dbapi.connect(
            host=p.hostname, port=p.port or (443 if p.scheme == "https" else 8080),
            user=self.settings.trino_user, http_scheme=p.scheme, source="govfabric", max_attempts=2,
        )
        self._timeout_set = None
        return self._con

    def _execute(self, sql: str) -> list[Any]:
        """An administrative statement (catalog DDL, SET SESSION, metadata), with errors mapped."""
        cur = self._client().cursor()
        timer = run_with_timeout(cur.cancel, ADMIN_TIMEOUT_S)
        try:
            cur.execute(sql)
            return list(cur.fetchall())
        except Exception as exc:
            raise self._error(exc, None) from None
        finally:
            timer.cancel()

    def _set_timeout(self, timeout_s: float) -> None:
        """The session's limits: run time (what is left of the query timeout after planning) and
        distributed memory (``trino_query_max_memory``; the server's own limit still caps it)."""
        props = {"query_max_run_time": f"{max(1, round(timeout_s * 1000))}ms",
                 "query_max_memory": self.settings.trino_query_max_memory}
        value = json.dumps(props, sort_keys=True)
        if self._timeout_set != value:
            for name, prop in props.items():
                self._execute(f"SET SESSION {name} = {_lit(prop)}")
            self._timeout_set = value

    # -- the seam ------------------------------------------------------------------------

    def prepare(self, bindings: list[Binding]) -> None:
        self._client()  # nothing runs without a configured, importable client
        sources = {b.source.name: b.source for b in bindings}
        for src in sources.values():
            if src.kind not in self.SOURCE_KINDS:
                raise SourceError(f"source {src.name} ({src.kind}) cannot be read through Trino; "
                                  "use engine duckdb for it")
        with self._lock:
            existing: set[str] | None = None
            for src in sources.values():
                name = self.catalog_name(src)
                props, pw_hash = self._dynamic_properties(src)
                if self._ready.get(name) == pw_hash:
                    continue
                if existing is None:
                    existing = set(self.catalogs())
                if name in existing:
                    # a sealed secret is covered by the name; an env-referenced password may have
                    # changed since the catalog was created, so that one is recreated once
                    if name not in self._ready and not (src.secret or "").startswith("env:"):
                        self._ready[name] = pw_hash
                        continue
                    self._execute(f"DROP CATALOG IF EXISTS {_ident(name)}")
                self._create(name, CONNECTORS[src.kind], props)
                self._ready[name] = pw_hash

    def _create(self, name: str, connector: str, props: dict[str, str]) -> None:
        body = ", ".join(f"{_ident(k)} = {_lit(v)}" for k, v in props.items())
        try:
            self._execute(f"CREATE CATALOG {_ident(name)} USING {connector} WITH ({body})")
        except GovfabricError as exc:
            if "already exists" not in str(exc):  # another process created it a moment ago
                raise

    def catalogs(self) -> list[str]:
        """Catalogs govfabric created on the server (by any workspace)."""
        rows = self._execute("SELECT catalog_name FROM system.metadata.catalogs "
                             "WHERE catalog_name LIKE 'gf\\_%' ESCAPE '\\' ORDER BY 1")
        return [r[0] for r in rows]

    def drop_catalogs(self, sources: list[Source]) -> list[str]:
        """Drop every catalog generated for ``sources`` (any fingerprint); returns their names."""
        names = {s.name for s in sources}
        pattern = re.compile(rf"^{CATALOG_PREFIX}(.+)_[0-9a-f]{{10}}$")
        dropped = []
        with self._lock:
            for cat in self.catalogs():
                m = pattern.match(cat)
                if m and m.group(1) in names:
                    self._execute(f"DROP CATALOG IF EXISTS {_ident(cat)}")
                    self._ready.pop(cat, None)
                    dropped.append(cat)
        return dropped

    def _batches(self, sql: str, timeout_s: float, params: Sequence[Any] = ()) -> Iterator[pa.RecordBatch]:
        with self._lock:
            self._set_timeout(timeout_s)
            cur = self._client().cursor()
        fired = threading.Event()

        def cancel() -> None:
            fired.set()
            cur.cancel()

        timer = run_with_timeout(cancel, timeout_s + CLIENT_GRACE_S)
        t0 = time.perf_counter()
        try:
            try:
                cur.execute(sql, list(params)) if params else cur.execute(sql)
                rows = cur.fetchmany(FETCH_ROWS)
                schema = arrow_schema(cur.description or [])
            except Exception as exc:
                raise self._error(exc, timeout_s, fired.is_set()) from None
            yield to_batch(rows, schema)
            while True:
                try:
                    rows = cur.fetchmany(FETCH_ROWS)
                except Exception as exc:
                    raise self._error(exc, timeout_s, fired.is_set()) from None
                if not rows:
                    break
                yield to_batch(rows, schema)
        finally:
            timer.cancel()
            self.stats.total_ms += (time.perf_counter() - t0) * 1000
            with contextlib.suppress(Exception):  # best effort: the query may be gone already
                cur.cancel()  # no-op when finished; stops the server when the reader gave up early

    @classmethod
    def configured(cls, settings: Any) -> bool:
        return bool(settings.trino_url)

    def sqlalchemy(self, bindings: list[Binding], *, timeout_s: float, application: str) -> SqlAccess:
        """The catalogs :meth:`prepare` creates, through the ``trino`` client's SQLAlchemy dialect;
        each table is probed, since a catalog is created without connecting to its source."""
        import sqlalchemy as sa
        from sqlalchemy.engine import URL

        self.prepare(bindings)  # creates (or re-creates) the sources' catalogs; clear errors if unreachable
        refs = {b.asset.id: self.physical_ref(b) for b in bindings}
        main_cat = refs[bindings[0].asset.id][0]  # type: ignore[index]
        p = urlsplit(self.url)
        url = URL.create("trino", username=self.settings.trino_user, host=p.hostname,
                         port=p.port or (443 if p.scheme == "https" else 8080), database=main_cat)
        engine = sa.create_engine(url, connect_args={
            "http_scheme": p.scheme, "source": application,
            "session_properties": {"query_max_run_time": f"{max(1, round(timeout_s))}s"}})
        tables = {aid: exp.table_(exp.to_identifier(r[2], quoted=True), db=exp.to_identifier(r[1], quoted=True),
                                  catalog=exp.to_identifier(r[0], quoted=True) if r[0] != main_cat else None)
                  for aid, r in refs.items() if r}
        b = bindings[0]
        try:
            with engine.connect() as c:
                for b in bindings:
                    c.exec_driver_sql(f"SELECT 1 FROM {tables[b.asset.id].sql(self.DIALECT)} LIMIT 0")  # noqa: S608
        except Exception as exc:
            engine.dispose()
            err = self._error(getattr(exc, "orig", None) or exc, None)
            raise type(err)(f"cannot read {b.asset.qualified_name} through Trino: {err}") from None
        return SqlAccess(engine, tables)

    def _error(self, exc: BaseException, timeout_s: float | None, fired: bool = False) -> GovfabricError:
        """One clear error per failure; never shows a source password."""
        from trino import exceptions as te

        if isinstance(exc, GovfabricError):
            return exc
        text = redact(str(getattr(exc, "message", None) or exc).strip().splitlines()[0]
                      if str(exc).strip() else type(exc).__name__, *self._secrets)
        name = getattr(exc, "error_name", None)
        if timeout_s is not None and (fired or name in ("EXCEEDED_TIME_LIMIT", "USER_CANCELED")):
            return QueryRejected(_timeout_message(timeout_s))
        if isinstance(exc, te.TrinoQueryError):
            if name == "CATALOG_NOT_FOUND":  # dropped on the server behind our back: recreate next time
                self._ready.clear()
                return SourceError(f"Trino lost a catalog govfabric made ({text}); run the query again "
                                   "and govfabric recreates it")
            if name in _SOURCE_ERRORS or isinstance(exc, te.TrinoExternalError):
                low = text.lower()
                hint = ("the source is unreachable from the Trino server: check its host, port and that it runs"
                        if any(w in low for w in ("refused", "timed out", "unknown host", "connect")) else
                        "check the source's credentials" if "authentication" in low or "password" in low else
                        "check the source and the Trino server log")
                return SourceError(f"Trino could not read a source of this query: {text} ({hint})")
            if isinstance(exc, te.TrinoUserError):
                return QueryRejected(f"Trino refused the query ({name}): {text}")
            return SourceError(f"Trino failed ({name}): {text}")
        if isinstance(exc, te.TrinoAuthError):
            return ConfigError(f"Trino at {self.url} refused user {self.settings.trino_user!r}: {text}")
        return SourceError(f"Trino at {self.url} is unreachable ({type(exc).__name__}: {text[:160]}); "
                           "check trino_url and that the server is running")

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.NAME, "url": self.settings.trino_url,
                               "user": self.settings.trino_user}
        try:
            import requests

            info = requests.get(f"{self.url}/v1/info", timeout=5).json()
            out.update(version=info.get("nodeVersion", {}).get("version"), starting=info.get("starting"),
                       reachable=True, catalogs=self.catalogs(), prepared=sorted(self._ready))
        except GovfabricError as exc:
            out.update(reachable=False, error=str(exc))
        except Exception as exc:
            out.update(reachable=False, error=str(self._error(exc, None)))
        return out

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None
                self._timeout_set = None


# -- Trino types → Arrow ---------------------------------------------------------------------

_SIMPLE: dict[str, pa.DataType] = {
    "boolean": pa.bool_(), "tinyint": pa.int8(), "smallint": pa.int16(), "integer": pa.int32(),
    "bigint": pa.int64(), "real": pa.float32(), "double": pa.float64(), "date": pa.date32(),
    "varbinary": pa.binary(), "unknown": pa.null(),
}
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def arrow_type(trino_type: str) -> pa.DataType:
    """The Arrow type for a Trino type name; anything without an exact match becomes text."""
    t = trino_type.strip().lower()
    if t in _SIMPLE:
        return _SIMPLE[t]
    if m := _DECIMAL.fullmatch(t):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    if t.startswith(("varchar", "char")):
        return pa.string()
    if t.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC") if t.endswith("with time zone") else pa.timestamp("us")
    if t.startswith("time") and not t.endswith("with time zone"):
        return pa.time64("us")
    if t.startswith("array(") and t.endswith(")"):
        return pa.list_(arrow_type(t[6:-1]))
    return pa.string()  # json, uuid, ipaddress, intervals, maps, rows


def arrow_schema(description: list[Any]) -> pa.Schema:
    return pa.schema([pa.field(d[0], arrow_type(str(d[1]))) for d in description])


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def to_batch(rows: list[Any], schema: pa.Schema) -> pa.RecordBatch:
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for field, values in zip(schema, cols, strict=True):
        if pa.types.is_string(field.type):
            values = [_text(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
