"""The catalog's search index, kept in step with every write of an asset.

Each active asset has one ``SearchEntry`` (``catalog_search_entries``): its qualified name, its
lower-cased name, Chinese name and description (what ranking reads) and its whole lower-cased
document (names, description, tags, caliber, and its columns' names and descriptions). Three
fields are cut into *grams* — every 1- and 2-character piece of their words — and each gram,
prefixed with its field (``n`` names, ``s`` description, ``d`` document), is a token of an
inverted index: the contentless FTS5 table ``catalog_search_fts_grams`` on SQLite (made by hand
in the migration), a GIN index over the entry's token array on PostgreSQL.

A term is looked up by its grams (itself when it has one or two characters, as Chinese terms such
as 企业 often do; its bigrams when longer), and candidates are checked against the stored text
unless the gram decides, so the index only has to hold a superset. Why not FTS5 trigram or
pg_trgm: neither can look up a 1–2 character term, and both check each candidate by reading its
whole document; here names are checked apart from the big document.

A change of ``grams`` or of the document needs a migration that rebuilds the index: SQLite's
contentless FTS5 table forgets a row by being given its tokens again, recomputed from the stored
text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import add
from typing import Any

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, AssetColumn, SearchEntry
from govfabric.store.bulk import bulk_insert

CHUNK = 500
ENTRIES = SearchEntry.__table__
GRAMS_FTS = "catalog_search_fts_grams"  # SQLite only: FTS5 over the tokens, rowid = entry id
_FTS_ADD = text("INSERT INTO catalog_search_fts_grams (rowid, tokens) VALUES (:id, :tokens)")
#: the FTS5 rowids must be known before inserting; AUTOINCREMENT keeps the highest id ever given here
_NEXT_ID = text("SELECT coalesce(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'catalog_search_entries'")
_GIN_FLUSH = text("SELECT gin_clean_pending_list('ix_catalog_search_entries_tokens'::regclass)")
_FTS_FORGET = text("INSERT INTO catalog_search_fts_grams (catalog_search_fts_grams, rowid, tokens) "
                   "VALUES ('delete', :id, :tokens)")
#: what separates words: white space and ASCII punctuation (the FTS5 ``ascii`` tokenizer splits on the latter)
SEPARATORS = re.compile(r"[\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")


@dataclass(frozen=True)
class Entry:
    """The search row of one asset (text lower-cased); its tokens follow from its text."""

    asset_id: str
    qualified_name: str
    name: str
    cn: str
    descr: str
    doc: str

    def tokens(self) -> list[str]:
        return Tokens()(self)

    def row(self) -> dict[str, Any]:
        return {"asset_id": self.asset_id, "qualified_name": self.qualified_name, "name": self.name,
                "cn": self.cn, "descr": self.descr, "doc": self.doc}


def words(text_: str) -> list[str]:
    return [w for w in SEPARATORS.split(text_) if w]


class Tokens:
    """Cuts entries into their tokens: every 1- and 2-character piece of each word of a field,
    prefixed with the field. Each distinct word is cut once per instance: the entries of a batch
    (a harvest's tables) share most of their words — column names and comments, schema and source
    names — and cutting them again was most of the indexing's Python. A field's words are looked
    up and their cuts united by C loops (``map`` over the cache, ``set.union``): per word, only a
    word not seen before runs Python."""

    def __init__(self) -> None:
        self._cuts = {f: _Cuts(f) for f in "nsd"}

    def __call__(self, e: Entry) -> list[str]:
        return [*self._field("n", f"{e.name} {e.cn}"), *self._field("s", e.descr), *self._field("d", e.doc)]

    def _field(self, field: str, text_: str) -> set[str]:
        return set().union(*map(self._cuts[field].__getitem__, SEPARATORS.split(text_)))


class _Cuts(dict[str, tuple[str, ...]]):
    """Word → its tokens in one field, cut when first asked for."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def __missing__(self, w: str) -> tuple[str, ...]:
        f = self.field
        cut = self[w] = tuple(f + g for g in (*w, *map(add, w, w[1:])))
        return cut


def term_tokens(field: str, term: str) -> list[str]:
    """Tokens every text of ``field`` containing ``term`` has: each word of the term when it is 1–2
    characters long, else its bigrams. Empty for a term of punctuation only."""
    out: list[str] = []
    for w in words(term):
        out.extend([w] if len(w) <= 2 else map(add, w, w[1:]))
    return [field + t for t in dict.fromkeys(out)]


def entry(asset: Mapping[str, Any], columns: Iterable[Mapping[str, Any]]) -> Entry:
    """The search row of an asset from its values (a row about to be inserted, or one read back)
    and its columns' (``name``, ``cn_name``, ``description``)."""
    parts = [asset["qualified_name"], asset["name"], asset.get("cn_name"), asset.get("description"),
             " ".join(asset.get("tags") or []), asset.get("caliber")]
    for c in columns:
        parts.extend((c["name"], c.get("cn_name"), c.get("description")))
    return Entry(asset["id"], asset["qualified_name"], asset["name"].lower(), (asset.get("cn_name") or "").lower(),
                 (asset.get("description") or "").lower(), " ".join(p for p in parts if p).lower())


# -- writing ------------------------------------------------------------------------------------

def add_entries(conn: Connection | Session, entries: Sequence[Entry], *, flush: bool = True) -> None:
    """Index assets that have no entry yet (just registered, or just removed by :func:`remove`)."""
    if not entries:
        return
    sqlite = _dialect(conn) == "sqlite"
    for start in range(0, len(entries), CHUNK * 10):
        part = entries[start:start + CHUNK * 10]
        tokens = Tokens()
        if sqlite:
            first = conn.execute(_NEXT_ID).scalar_one()
            rows = [{"id": first + i, **e.row()} for i, e in enumerate(part)]
            bulk_insert(_connection(conn), ENTRIES, rows)
            conn.execute(_FTS_ADD, [{"id": first + i, "tokens": " ".join(tokens(e))} for i, e in enumerate(part)])
        else:
            bulk_insert(_connection(conn), ENTRIES, [{**e.row(), "tokens": tokens(e)} for e in part])
    if flush and not sqlite:
        # GIN queues new entries in a "pending list" that every lookup reads through (4 MB of it made a
        # search take 0.3 s instead of 10 ms); moving them into the index at once costs no more
        conn.execute(_GIN_FLUSH)


def remove(conn: Connection | Session, asset_ids: Sequence[str]) -> None:
    """Forget these assets' entries (those they have)."""
    if not asset_ids:
        return
    sqlite = _dialect(conn) == "sqlite"
    for start in range(0, len(asset_ids), CHUNK):
        ids = list(asset_ids[start:start + CHUNK])
        if sqlite:
            e = ENTRIES.c
            old = conn.execute(select(e.id, e.asset_id, e.qualified_name, e.name, e.cn, e.descr, e.doc)
                               .where(e.asset_id.in_(ids))).all()
            if old:
                tokens = Tokens()
                conn.execute(_FTS_FORGET, [{"id": r.id, "tokens": " ".join(tokens(Entry(*r[1:])))} for r in old])
        conn.execute(delete(ENTRIES).where(ENTRIES.c.asset_id.in_(ids)))


def index_assets(session: Session, asset_ids: Sequence[str]) -> None:
    """Re-index these assets from the catalog tables after any change (names, descriptions,
    tags, columns — renames included — or status): active ones get a fresh entry, others none."""
    if not asset_ids:
        return
    session.flush()
    ids = list(dict.fromkeys(asset_ids))
    remove(session, ids)
    add_entries(session, _read_entries(session, ids))


def rebuild(conn: Connection) -> None:
    """Index every active asset from scratch (migrations: the tables exist and are empty; on
    PostgreSQL the GIN index is made afterwards, which is faster than keeping it up to date)."""
    ids = list(conn.scalars(select(Asset.id).where(Asset.status == "active").order_by(Asset.qualified_name)))
    for start in range(0, len(ids), CHUNK * 10):
        add_entries(conn, _read_entries(conn, ids[start:start + CHUNK * 10]), flush=False)
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO catalog_search_fts_grams (catalog_search_fts_grams) VALUES ('optimize')"))


def _read_entries(conn: Connection | Session, asset_ids: list[str]) -> list[Entry]:
    out: list[Entry] = []
    for start in range(0, len(asset_ids), CHUNK):
        ids = asset_ids[start:start + CHUNK]
        cols: dict[str, list[Any]] = defaultdict(list)
        for c in conn.execute(select(AssetColumn.asset_id, AssetColumn.name, AssetColumn.cn_name,
                                     AssetColumn.description)
                              .where(AssetColumn.asset_id.in_(ids)).order_by(AssetColumn.position)):
            cols[c.asset_id].append(c._mapping)
        out.extend(entry(a._mapping, cols[a.id]) for a in conn.execute(
            select(Asset.id, Asset.qualified_name, Asset.name, Asset.cn_name, Asset.description, Asset.tags,
                   Asset.caliber).where(Asset.id.in_(ids), Asset.status == "active")))
    return out


def _connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _dialect(conn: Connection | Session) -> str:
    return conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name

