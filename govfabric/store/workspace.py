"""Opening a workspace's store: its settings, then the store with its schema revision checked."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, TypeVar

from govfabric.config import CONFIG_FILE, Settings, load_settings, resolve_home
from govfabric.errors import ConfigError

if TYPE_CHECKING:
    from govfabric.store.db import Store
    from govfabric.store.summary import PostgresReader, SQLiteFile

_S = TypeVar("_S", "Store", "SQLiteFile", "PostgresReader")

#: a SQLite store named by its absolute path in letters and digits of any script (a Chinese home
#: directory too), ``. / _ -`` and spaces, which SQLAlchemy's URL opens as that file: every
#: workspace's default store. No ``%``, ``?``, ``#`` or ``+``: those its URL parser would change.
PLAIN_SQLITE = re.compile(r"sqlite:///(/[\w./ -]+)")


def open_store(home: str | os.PathLike[str] | None = None, *, store_url: str | None = None,
               check: bool = True) -> tuple[Settings, Store]:
    """An existing workspace's settings and store, its schema revision checked (one query, never
    migrated: concurrent processes would race their DDL) unless ``check`` is false. The one way a
    workspace is opened: ``govfabric.fabric.connect`` calls it, and :func:`open_reader`."""
    from govfabric.store.db import Store

    settings = _settings(home, store_url)
    store = Store(settings.resolved_store_url)
    if check:
        _checked(store)
    return settings, store


def open_reader(home: str | os.PathLike[str] | None = None
                ) -> tuple[Settings, Store | SQLiteFile | PostgresReader]:
    """:func:`open_store` for a read of a few rows (``govfabric status``): a plain SQLite store opens
    with the standard library's ``sqlite3``, a plain PostgreSQL store with ``psycopg``, as importing
    SQLAlchemy alone is half of the command's 0.5 s budget (issue 15); any other store URL opens as
    a :class:`Store`."""
    settings = _settings(home, None)
    url = settings.store_url or settings.resolved_store_url  # the URL as written: no password put in
    if url.startswith("postgres"):
        from govfabric.store.summary import PG_URL, PostgresReader

        if PG_URL.fullmatch(url) is None:
            return open_store(home)
        from govfabric.auth.secrets import SecretBox, open_secret

        password = open_secret(settings.store_password, SecretBox(settings.resolved_key_file))
        return settings, _checked(PostgresReader(url, password))
    plain = PLAIN_SQLITE.fullmatch(url)
    if plain is None:
        return open_store(home)
    from govfabric.store.summary import SQLiteFile

    return settings, _checked(SQLiteFile(plain.group(1)))


def _checked(store: _S) -> _S:
    """``store`` once its schema revision is this code's; closed (and the error raised) if not."""
    try:
        store.check_revision()
    except BaseException:
        store.dispose()
        raise
    return store


def _settings(home: str | os.PathLike[str] | None, store_url: str | None) -> Settings:
    root = resolve_home(home)
    if not (root / CONFIG_FILE).exists():
        raise ConfigError(f"no govfabric workspace at {root}; create one with `govfabric init` "
                          "(or `govfabric demo`), or point --home / GOVFABRIC_HOME at one")
    return load_settings(root, store_url=store_url)
