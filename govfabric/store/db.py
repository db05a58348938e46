"""The metadata store: one SQLAlchemy engine, transactional sessions, migrations.

SQLite (WAL) in the workspace by default; PostgreSQL by URL. Both run the same
models and the same Alembic migrations.
"""

from __future__ import annotations

import json
import re
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError

from govfabric.errors import ConfigError
from govfabric.store import later as _later

if TYPE_CHECKING:  # the ORM loads with the first session: `govfabric status` reads with Core only
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session, sessionmaker

    from govfabric.store.later import Later
    from govfabric.store.prepared import Prepared

#: the key of a session's ``info`` holding what is to run once its transaction commits (:func:`on_commit`)
_ON_COMMIT = "govfabric.on_commit"
#: statements that never change what a call scope's memo holds (``Store.call_scope``)
_READS = ("SELECT", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "PRAGMA", "SHOW")


#: PostgreSQL connections per process: a ``govfabric serve`` worker runs up to 40 requests at once in
#: AnyIO's threads, each holding at most one store connection at a time — none waits for the pool.
#: Connections beyond ``POOL_SIZE`` are closed when returned: with 5 kept (the old size), a worker
#: under 16+ concurrent requests opened a new backend for most checkouts (8% of its threads' time).
#: Opened lazily, so a CLI process keeps the one or two it uses; 2 workers at most 80 connections.
POOL_SIZE, POOL_OVERFLOW = 20, 20


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Own the transaction: pysqlite's implicit BEGIN is deferred, which lets two
    # writers read the same audit head and then fail on upgrade (SQLITE_BUSY).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # statement journals in memory, not in a temp file: every row of an executemany into a table with
    # triggers journals its pages (a 2,000-table harvest wrote 500,000 pages to /var/tmp)
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE, unless the connection is in a transaction begun on its driver already
    (``Store.write_only``, where a Core statement then joins it)."""
    if not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Create the store engine; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        return _make_engine(url)
    except ArgumentError:
        raise ConfigError("the store URL cannot be parsed; use postgresql://user@host:port/database "
                          "(percent-encode special characters) or sqlite:///path") from None


class RawJson:
    """JSON text encoded already, written by a JSON column as it is (:func:`json_text`): a query's
    lineage event is spliced from its plan's encoded template (``events.QueryTemplate``) instead of
    encoding the whole payload again on every query."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def json_text(value: Any) -> str:
    """A JSON column's text: orjson, ~7× faster than ``json.dumps`` (a recorded query writes five
    JSON values, a harvest of 10,000 tables a 60 MB lineage document) and UTF-8 instead of
    ``\\uXXXX`` escapes (Chinese names take half the bytes). Whatever orjson will not write as
    ``json.dumps`` would (datetimes, dataclasses, ``str`` subclasses such as enums, integers beyond
    64 bits, other objects) goes to ``json.dumps``, which writes or refuses it as before. NaN and
    infinities are written as ``null`` (JSON has neither; PostgreSQL refused them). A :class:`RawJson`
    is its text."""
    if type(value) is RawJson:
        return value.text
    try:
        return orjson.dumps(value, option=_ORJSON).decode()
    except TypeError:  # orjson.JSONEncodeError included
        return json.dumps(value)


def json_value(text: str | bytes) -> Any:
    """A JSON column's value: orjson, falling back to ``json.loads`` for what it refuses (``NaN``
    tokens written before :func:`json_text`) and for text with a run of 19 digits or more, where an
    integer beyond 64 bits may be (orjson reads one as a float: the column would give back another
    value than was written)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if _LONG_DIGITS_B.search(text) if isinstance(text, bytes) else _LONG_DIGITS.search(text):
        return json.loads(text)
    return value


_LONG_DIGITS, _LONG_DIGITS_B = re.compile(r"\d{19}"), re.compile(rb"\d{19}")


_ORJSON = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
           | orjson.OPT_PASSTHROUGH_SUBCLASS)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, future=True, connect_args={"timeout": 30}, json_serializer=json_text,
                               json_deserializer=json_value)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    if not url.startswith("postgresql"):
        raise ConfigError(
            f"unsupported store URL scheme in {url.split(':', 1)[0]!r}: "
            "use sqlite:///path or postgresql://user@host:port/db"
        )
    # no pool_pre_ping (a round trip per checkout, ~10% of a query service call): a connection the
    # server closed (restart, pg_terminate_backend) has a readable socket, seen without a round trip
    engine = create_engine(url, future=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_recycle=3600,
                           json_serializer=json_text, json_deserializer=json_value)
    event.listen(engine, "checkout", _closed_by_server)
    return engine


def _closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled PostgreSQL connection the server has closed: idle in the pool nothing may
    arrive on its socket but the server's goodbye (an error message, then EOF). The pool then
    connects afresh (``DisconnectionError``); a connection lost silently (no FIN) fails its next
    statement, which invalidates the pool (SQLAlchemy's disconnect handling), and ``pool_recycle``
    bounds its age."""
    try:
        if dbapi_conn.closed:
            raise DisconnectionError("the store connection is closed")
        poller = select.poll()
        poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        ready = poller.poll(0)
    except (OSError, ValueError) as exc:
        raise DisconnectionError(f"the store connection is unusable: {exc}") from None
    if ready:
        raise DisconnectionError("the store server closed this connection")


def on_commit(session: Session, fn: Callable[[], object]) -> None:
    """Run ``fn`` once ``session``'s transaction has committed; never if it rolls back. For work
    after every query (the lineage graph's new edges), where a per-session event listener cost
    more than the work (SQLAlchemy builds the session's own dispatch for it)."""
    session.info.setdefault(_ON_COMMIT, []).append(fn)


def _committed(session: Session) -> None:
    for fn in session.info.pop(_ON_COMMIT, ()):
        fn()


def _rolled_back(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)


class NeedsTransaction(Exception):
    """Raised in a :meth:`Store.write_only` block opened with ``single=True`` by anything but its
    one statement, before that statement runs: nothing was written; run the block again in a
    transaction."""


class WriteOnly:
    """A write-only transaction on one Core connection, without an ORM Session (:meth:`Store.write_only`).

    Recording a query (query log, lineage event, usage, audit) runs only fixed statements
    (``store/prepared.py``): the ORM session around them — made, begun, committed through its
    unit of work and events, closed — cost about as much as the statements. It offers what those
    writers use of a session: ``connection()``, ``get_bind()``, ``info`` (``on_commit`` included)
    and ``flush()``.

    ``single``: the transaction is one statement in autocommit (no BEGIN, no COMMIT): only a writer
    that knows its whole work is one statement may take the connection, through :meth:`sole`;
    :meth:`connection` raises :class:`NeedsTransaction`. ``gather``: rows given to :func:`gather` wait
    for :meth:`flush` (before COMMIT), one ``executemany`` per statement."""

    __slots__ = ("_bind", "_conn", "_gathered", "_single", "info")

    def __init__(self, conn: Connection, bind: Engine, info: dict[str, Any], *, single: bool = False,
                 gather: bool = False) -> None:
        self._conn, self._bind, self.info = conn, bind, info
        self._single: bool | None = True if single else None  # None: a transaction; False: its statement ran
        self._gathered: dict[Prepared, dict[Any, dict[str, Any]]] | None = {} if gather else None

    @property
    def single(self) -> bool:
        """Whether this is a one-statement transaction (:meth:`sole` gives its connection)."""
        return self._single is not None

    def connection(self) -> Connection:
        if self._single is not None:
            raise NeedsTransaction("this write needs a transaction, not a single statement")
        return self._conn

    def sole(self) -> Connection:
        """The connection for the transaction's one statement (``single``), once: it commits as it runs."""
        if self._single is not True:
            raise RuntimeError("the single statement of this write-only transaction has run already")
        self._single = False
        return self._conn

    def get_bind(self) -> Engine:
        return self._bind

    def flush(self) -> None:
        """Write the gathered rows (:func:`gather`); every other statement ran when it was called."""
        gathered, self._gathered = self._gathered, {} if self._gathered is not None else None
        for prepared, rows in (gathered or {}).items():
            prepared.run(self, [rows[k] for k in sorted(rows)])  # type: ignore[arg-type]  # offers what it uses


def gathering(session: Any) -> bool:
    """Whether ``session`` is a write-only transaction that gathers rows (:func:`gather`)."""
    return type(session) is WriteOnly and session._gathered is not None


def gather(session: Any, prepared: Prepared, row: dict[str, Any], *, key: tuple[Any, ...] | None = None,
           merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None) -> None:
    """``prepared.run(session, row)``, or, in a write-only transaction that gathers (the deferred
    writer's, ``store/later.py``), with the other rows gathered for the same statement in one
    ``executemany`` when it flushes, before COMMIT: the statement is converted, and a cursor made,
    once per batch instead of once per query (half the deferred writer's cost). Only for rows
    nobody reads in the transaction, whose order against other statements does not matter.
    ``key``/``merge``: rows of one key become one (``merge(old, new)``), written in key order (an
    upsert's: one lock order for concurrent writers). A statement's rows are all keyed or none."""
    pending = session._gathered if type(session) is WriteOnly else None
    if pending is None:
        prepared.run(session, row)
        return
    rows = pending.setdefault(prepared, {})
    if key is None:
        rows[len(rows)] = row
    else:
        old = rows.get(key)
        rows[key] = row if old is None or merge is None else merge(old, row)


class Store:
    """The metadata store of one workspace."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        #: per-store context handed to every session as ``session.info`` (a shallow copy made when the
        #: session opens), e.g. the audit chain's key and checkpoint (``govfabric.auth.audit.bind``)
        self.info: dict[str, Any] = {}
        self._made: sessionmaker[Session] | None = None
        self._making = threading.Lock()
        self._current: ContextVar[Session | None] = ContextVar(f"govfabric_session_{id(self)}", default=None)
        self._memo: ContextVar[dict[str, Any] | None] = ContextVar(f"govfabric_memo_{id(self)}", default=None)
        #: run with a transaction's ``info`` holder once it committed, after its ``on_commit`` work:
        #: for sessions as their ``after_commit`` listeners, for :meth:`write_only` transactions by it
        self.commit_hooks: list[Callable[[Any], None]] = []
        self._later: Later | None = None
        event.listen(self.engine, "before_cursor_execute", self._forget_on_write)

    def defer(self, write: Callable[[Any], object]) -> None:
        """Write after the answer (``store/later.py``): ``write`` runs in a later write-only
        transaction (:meth:`write_only`) with whatever else is queued; :meth:`flush_deferred` waits for it."""
        later = self._later
        if later is None:
            with self._making:
                later = self._later = self._later or _later.Later(self)
        later.add(write)

    def flush_deferred(self) -> None:
        """Wait until every write :meth:`defer` queued so far is committed (read-your-writes), this
        store's and those of the process's other stores (the same workspace opened twice)."""
        _later.flush_all()

    @property
    def _sessions(self) -> sessionmaker[Session]:
        """Made at the first session (importing the ORM then), once: listeners hang on it."""
        made = self._made
        if made is None:
            with self._making:
                if self._made is None:
                    from sqlalchemy.orm import sessionmaker

                    made = sessionmaker(self.engine, expire_on_commit=False, future=True, info=self.info)
                    event.listen(made, "after_commit", _committed)
                    event.listen(made, "after_rollback", _rolled_back)
                    self._made = made
                made = self._made
        return made

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, pipelined: bool = False) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error.

        Re-entrant per thread: a service called inside another's transaction joins
        it (on SQLite a second transaction would wait for the first to end). A new one
        that may read waits for this process's deferred writes first (:meth:`defer`).
        ``pipelined``: write-only work (``govfabric.auth.audit.pipelined``), its commit included.
        """
        current = self._current.get()
        if current is not None:
            yield current
            return
        if not pipelined and _later.live:  # what this process wrote is seen (a pipelined session only writes)
            _later.flush_all()
        s = self._sessions()
        token = self._current.set(s)
        try:
            if pipelined:
                from govfabric.auth.audit import pipelined as pipeline

                with pipeline(s) as commit:
                    yield s
                    commit()
            else:
                yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            self._current.reset(token)
            s.close()

    @contextmanager
    def write_only(self, *, single: bool = False, gather: bool = False) -> Iterator[WriteOnly]:
        """A transaction for write-only work of fixed shape (:class:`WriteOnly`), committed on
        success (pipelined on PostgreSQL, as ``session(pipelined=True)``), rolled back on any
        error; then ``on_commit`` work and :attr:`commit_hooks` run as after a session's commit.
        Not re-entrant and not :meth:`current`: nothing inside may open a session of this store.

        ``single`` (PostgreSQL; elsewhere ignored): the block's work is one statement, run in
        autocommit — atomic by itself, no BEGIN or COMMIT, no pipeline (whose bookkeeping, in
        Python, cost more than the statement's). Anything else that asks for the connection
        raises :class:`NeedsTransaction` before the statement runs. ``gather``: see :func:`gather`."""
        from govfabric.auth.audit import pipeline_of

        with self.engine.connect() as conn:
            if single and self.engine.dialect.name == "postgresql":
                raw: Any = conn.connection.driver_connection
                raw.autocommit = True  # idle at checkout: a local switch, no statement
                try:
                    tx = WriteOnly(conn, self.engine, dict(self.info), single=True)  # nothing to gather
                    yield tx
                finally:
                    if not raw.closed:
                        raw.autocommit = False
            elif self.engine.dialect.name == "sqlite":
                tx = WriteOnly(conn, self.engine, dict(self.info), gather=gather)
                # on the driver: Core's begin (its event running BEGIN IMMEDIATE through Core) and
                # commit were a tenth of the recording; a Core statement inside joins (``_sqlite_begin``).
                # The engine's commit listeners still hear the commit, as they would from Core.
                raw = conn.connection.driver_connection
                raw.execute("BEGIN IMMEDIATE")
                try:
                    yield tx
                    tx.flush()
                    if conn._has_events or self.engine._has_events:
                        conn.dispatch.commit(conn)
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
            else:
                tx = WriteOnly(conn, self.engine, dict(self.info), gather=gather)
                trans = conn.begin()
                try:
                    with pipeline_of(conn) as commit:
                        yield tx
                        tx.flush()
                        commit()
                    trans.commit()
                except BaseException:
                    if trans.is_active:
                        trans.rollback()
                    raise
            _committed(tx)  # type: ignore[arg-type]
            for hook in self.commit_hooks:
                hook(tx)

    @contextmanager
    def call_scope(self) -> Iterator[dict[str, Any]]:
        """One call's memo of what it read from the store outside a transaction (e.g. the change
        counter, ``virtualization/cache.py``), so that one call reads it once. Nested scopes share
        the outer one; a transaction committed in the scope (in this context) empties it, so the
        call's own writes are seen. Never spans calls: it ends with the ``with`` block."""
        memo = self._memo.get()
        if memo is not None:
            yield memo
            return
        memo = {}
        token = self._memo.set(memo)
        try:
            yield memo
        finally:
            self._memo.reset(token)

    def _forget_on_write(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        memo = self._memo.get()
        if memo and not statement.lstrip()[:9].upper().startswith(_READS):
            memo.clear()  # what the call read before its own write may no longer hold

    def call_memo(self) -> dict[str, Any] | None:
        """The memo of the call scope open in this context, if any (:meth:`call_scope`)."""
        return self._memo.get()

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """The factory behind :meth:`session`, to listen for session events (e.g. ``after_commit``)."""
        return self._sessions

    def current(self) -> Session | None:
        """The transaction this thread has open on this store (``session()`` re-enters it), if any."""
        return self._current.get()

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every module's branch (under the migration lock)."""
        from govfabric.store.migrate import upgrade

        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise ConfigError(f"cannot open the metadata store {self.safe_url}: {self.redact(str(exc.orig))}"
                              ) from None

    def check_revision(self) -> None:
        """Refuse a store whose schema is not this code's: one query, no DDL (``govfabric upgrade`` migrates)."""
        from govfabric.store.migrate import current_heads, require_current

        try:
            current = current_heads(self.engine)
        except OperationalError as exc:
            raise ConfigError(f"cannot open the metadata store {self.safe_url}: {self.redact(str(exc.orig))}"
                              ) from None
        require_current(current, self.safe_url)

    def redact(self, text: str) -> str:
        """A store error without the store's password, in any encoding."""
        from govfabric.auth.secrets import redact

        return redact(text, self.engine.url.password)

    @property
    def safe_url(self) -> str:
        """The URL without its password (user part or query parameter), for messages and logs."""
        url = self.engine.url
        query = {k: v for k, v in url.query.items() if k.lower() not in ("password", "passwd", "pass")}
        return url.set(query=query).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.flush_deferred()
        self.engine.dispose()

