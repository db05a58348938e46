"""DuckDB, embedded: the default engine.

Sources are attached read-only through DuckDB's postgres/mysql/sqlite extensions
(installed offline from the ``duckdb-extension-*`` wheels into the workspace) and
files are exposed as views over DuckDB's readers. Then the connection is locked:
external access off (only the registered files stay readable) and configuration
locked, so that nothing a query says can reach beyond what the rewrite allowed.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from govfabric.catalog.sources import KINDS, kind_of
from govfabric.errors import QueryRejected, SourceError
from govfabric.virtualization.engines.base import Binding, Engine, SourceConnector, SqlAccess, run_with_timeout
from govfabric.virtualization.masks import MASK_KEY_PURPOSE, register_functions

#: DuckDB extensions per source kind, as each kind declares (``SourceKind.DUCKDB_EXTENSION``)
EXTENSIONS = {n: k.DUCKDB_EXTENSION for n, k in KINDS.items() if k.DUCKDB_EXTENSION}
FILE_EXTENSIONS = ("excel",)
BATCH_ROWS = 64_000
#: a cursor is kept for the next query only if its statement ended this long before its deadline
_REUSE_MARGIN_S = 1.0


def _lit(value: str) -> str:
    return exp.Literal.string(value).sql("duckdb")


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def load_extensions(con: Any, ext_dir: Path, names: list[str]) -> None:
    """INSTALL from the wheel into the workspace once, then LOAD explicitly (no network)."""
    import duckdb_extensions

    installed = {r[0] for r in con.execute(
        "SELECT extension_name FROM duckdb_extensions() WHERE installed").fetchall()}
    for name in names:
        if name not in installed:
            duckdb_extensions.import_extension(name, con=con)
        con.execute(f"LOAD {name}")


class DuckDBEngine(Engine):
    NAME: ClassVar[str] = "duckdb"
    DIALECT: ClassVar[str] = "duckdb"
    SOURCE_KINDS: ClassVar[frozenset[str]] = frozenset(KINDS)
    EMBEDDED: ClassVar[bool] = True

    def __init__(self, settings: Any, connector: SourceConnector) -> None:
        super().__init__(settings, connector)
        self._con: Any = None
        self._prepared: dict[str, Binding] = {}
        #: cursors of ``_con`` that ran a query to its end, for the next (``_cursor``)
        self._idle: list[tuple[Any, Any]] = []

    @staticmethod
    def alias(source_name: str) -> str:
        return f"src_{source_name}"

    @classmethod
    def physical_ref(cls, binding: Binding) -> tuple[str, str, str] | None:
        src, a = binding.source, binding.asset
        if not kind_of(src).IS_DATABASE:
            return ("memory", cls.alias(src.name), f"a_{a.id[:16]}")
        loc = a.location or {}
        return (cls.alias(src.name), loc.get("schema", "main"), loc.get("table", a.name))

    @staticmethod
    def _key(b: Binding) -> str:
        return _setup_key(b)

    def prepare(self, bindings: list[Binding]) -> None:
        """Attach what the query needs. The connection is locked once set up, so a query that needs
        something new reopens it — with everything attached so far, so each binding costs one reopen."""
        new = {self._key(b): b for b in bindings}
        with self._lock:
            if self._con is not None and new.keys() <= self._prepared.keys():
                return
            stale = {b.asset.id for b in new.values()} | {b.source.name for b in new.values()}
            keep = {k: b for k, b in self._prepared.items() if not {b.asset.id, b.source.name} & stale}
            wanted = {**keep, **new}
            try:
                self._open(list(wanted.values()))
            except Exception:
                if not keep:
                    raise
                wanted = new  # something attached earlier broke since; start over with what this query needs
                self._open(list(wanted.values()))
            self._prepared = wanted

    def _open(self, bindings: list[Binding]) -> None:
        import duckdb

        settings = self.settings
        ext_dir = settings.extensions_dir
        ext_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={
            "extension_directory": str(ext_dir), "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads, "allow_persistent_secrets": False,
            **_spill_settings(settings),
        })
        try:
            self._setup(con, bindings)
        except BaseException:
            con.close()  # the previous connection, if any, stays in service
            raise
        if self._con is not None:
            self._con.close()
        self._con = con

    def _setup(self, con: Any, bindings: list[Binding]) -> None:
        ext_dir = self.settings.extensions_dir
        kinds = {b.source.kind for b in bindings}
        needed = sorted({e for b in bindings for e in kind_of(b.source).duckdb_extensions(b.asset)})
        load_extensions(con, ext_dir, needed)
        disabled = sorted({o for k in kinds if k in KINDS for o in KINDS[k].DUCKDB_DISABLED_OPTIMIZERS})
        if disabled:
            con.execute(f"SET disabled_optimizers = {_lit(','.join(disabled))}")
        register_functions(con, self.connector.derive(MASK_KEY_PURPOSE))  # HMAC-SM3 masks; the key stays out of SQL
        allowed: list[str] = []
        attached: set[str] = set()
        for b in bindings:
            src = b.source
            alias = self.alias(src.name)
            if not kind_of(src).IS_DATABASE:
                if alias not in attached:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{_ident(alias)}")
                    attached.add(alias)
                allowed.append(self._file_view(con, b))
                continue
            if alias in attached:
                continue
            attached.add(alias)
            self._attach(con, b)
        if allowed:
            con.execute(f"SET allowed_paths = [{', '.join(_lit(p) for p in sorted(set(allowed)))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def _attach(self, con: Any, b: Binding) -> None:
        """The source's kind attaches it (read-only; servers through a temporary DuckDB secret)."""
        self.connector.attach_duckdb(con, self.alias(b.source.name), b.source)

    def _file_view(self, con: Any, b: Binding) -> str:
        """A view over the file, made by its kind (which knows the file types); returns the path
        that must stay readable."""
        _, schema, table = self.physical_ref(b)  # type: ignore[misc]
        return kind_of(b.source).duckdb_view(con, f"memory.{_ident(schema)}.{_ident(table)}", b.source,  # type: ignore[attr-defined]
                                             b.asset, self.settings.home / "cache")

    def sqlalchemy(self, bindings: list[Binding], *, timeout_s: float, application: str) -> SqlAccess:
        """A fresh in-memory DuckDB set up as :meth:`_setup` sets up the engine's own (read-only
        ATTACH, file views, external access off, configuration locked), through duckdb-engine; each
        asset is a view ``main.gf_asset_<i>``. DuckDB has no statement timeout; ``timeout_s`` is unused."""
        import sqlalchemy as sa
        from sqlalchemy import event
        from sqlalchemy.pool import StaticPool

        try:
            import duckdb_engine  # noqa: F401
        except ImportError:
            raise SourceError("reading through SQLAlchemy on DuckDB needs the duckdb-engine package; "
                              "pip install duckdb-engine") from None
        settings = self.settings
        settings.extensions_dir.mkdir(parents=True, exist_ok=True)
        views = {b.asset.id: f"gf_asset_{i}" for i, b in enumerate(bindings)}
        engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool, connect_args={"config": {
            "extension_directory": str(settings.extensions_dir), "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads, "allow_persistent_secrets": False}})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_con: Any, _record: Any) -> None:
            self._setup(dbapi_con, bindings)
            for b in bindings:
                cat, schema, table = self.physical_ref(b)  # type: ignore[misc]
                q = [exp.to_identifier(n, quoted=True) for n in (table, schema, cat)]
                ref = exp.table_(q[0], db=q[1], catalog=q[2])
                view = _ident(views[b.asset.id])
                dbapi_con.execute(f"CREATE OR REPLACE VIEW main.{view} AS SELECT * FROM {ref.sql('duckdb')}")  # noqa: S608

        access = SqlAccess(engine, {aid: exp.table_(exp.to_identifier(v, quoted=True)) for aid, v in views.items()})
        try:
            with engine.connect() as c:
                c.exec_driver_sql("SELECT 1")
        except Exception as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None) or exc
            if isinstance(orig, SourceError):
                raise orig from None
            names = ", ".join(b.asset.qualified_name for b in bindings)
            raise SourceError(f"cannot open {names} on DuckDB: {orig}; check that the source is reachable "
                              "(`govfabric source test`)") from None
        return access

    def _batches(self, sql: str, timeout_s: float, params: Sequence[Any] = ()) -> Iterator[pa.RecordBatch]:
        import duckdb

        if self._con is None:
            self.prepare([])
        con, cur = self._cursor()
        timer = run_with_timeout(cur.interrupt, timeout_s)
        t0 = time.perf_counter()
        done = False
        try:
            reader = (cur.execute(sql, list(params)) if params else cur.execute(sql)).to_arrow_reader(BATCH_ROWS)
            yield from reader
            done = True
        except duckdb.InterruptException:
            raise QueryRejected(f"the query ran longer than {timeout_s:g} s (the query timeout) and was "
                                "stopped; filter or aggregate more") from None
        finally:
            timer.cancel()
            self.stats.total_ms += (time.perf_counter() - t0) * 1000
            # kept for the next query only when it ran to its end well before its deadline: the
            # watchdog then drops the cancelled deadline unfired, and never interrupts a later query
            if done and time.monotonic() < timer.at - _REUSE_MARGIN_S and con is self._con:
                self._idle.append((con, cur))
            else:
                cur.close()

    def _cursor(self) -> tuple[Any, Any]:
        """A cursor of the current connection: one an earlier query left idle (a new cursor is a
        new DuckDB connection to the database: ~0.06 ms right after a scan, paid by every query),
        else a new one. Cursors of a connection replaced since (``prepare``) are closed."""
        while True:
            try:
                con, cur = self._idle.pop()
            except IndexError:
                con = self._con
                return con, con.cursor()
            if con is self._con:
                return con, cur
            cur.close()

    def status(self) -> dict[str, Any]:
        import duckdb

        attached = []
        if self._con is not None:
            attached = [r[0] for r in self._con.execute(
                "SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall()]
        return {"engine": self.NAME, "version": duckdb.__version__, "reachable": True,
                "attached": attached, "locked": self._con is not None}

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, cur in idle:
            cur.close()
        if self._con is not None:
            self._con.close()
            self._con = None
            self._prepared = {}


@functools.lru_cache(maxsize=1024)
def _setup_key(b: Binding) -> str:
    """What must be set up: a database source once (all its tables come with it), a file per asset.
    Kept per binding (a cached plan hands the same ones to every run; a change to the catalog makes
    new ones): a query's bindings were keyed again on every run."""
    if not kind_of(b.source).IS_DATABASE:
        return f"{b.source.name}:{b.source.uri}:{b.asset.id}:{b.asset.version}"
    # the secret reference too: a password changed with `source add --replace` re-attaches
    secret = hashlib.sha256((b.source.secret or "").encode()).hexdigest()[:12]
    return f"{b.source.name}:{b.source.uri}:{secret}"


def _spill_settings(settings: Any) -> dict[str, str]:
    """Where DuckDB spills past its memory limit, and how much: a bounded folder in the workspace
    (the default, next to the database, would be the process's working directory for ``:memory:``)."""
    tmp = settings.home / "cache" / "duckdb_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"temp_directory": str(tmp), "max_temp_directory_size": settings.duckdb_max_temp_size}


def attach_statements(alias: str, kind: str, params: Any) -> list[str]:
    """The statements that ATTACH a database server (kept for callers; the kind owns them)."""
    return kind_of(kind).attach_statements(alias, params)  # type: ignore[attr-defined]
