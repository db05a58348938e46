"""The search document of each asset, kept in step with every write.

``search_text`` joins the asset's names, description, tags and its columns' names
into one lower-cased string. SQLite mirrors it into an FTS5 trigram table, and
PostgreSQL indexes it with pg_trgm: both answer substring queries — Chinese
included — from an index.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, AssetColumn

CHUNK = 500


class AssetDoc(Protocol):
    """What a search document reads of an asset (an ``Asset`` or a row with these fields)."""

    qualified_name: str
    name: str
    cn_name: str | None
    description: str | None
    tags: Any
    caliber: str | None


class ColumnDoc(Protocol):
    name: str
    cn_name: str | None
    description: str | None


def document(asset: AssetDoc, columns: Iterable[ColumnDoc]) -> str:
    return _join([asset.qualified_name, asset.name, asset.cn_name, asset.description,
                  " ".join(asset.tags or []), asset.caliber],
                 ((c.name, c.cn_name, c.description) for c in columns))


def document_of_values(asset: Mapping[str, Any], columns: Iterable[Mapping[str, Any]]) -> str:
    """The same document from plain values (the rows a bulk writer is about to insert)."""
    return _join([asset["qualified_name"], asset["name"], asset.get("cn_name"), asset.get("description"),
                  " ".join(asset.get("tags") or []), asset.get("caliber")],
                 ((c["name"], c.get("cn_name"), c.get("description")) for c in columns))


GRAMS_MARK = " \x1f "  # separates the text from its short grams


def _join(parts: list[str | None], columns: Iterable[tuple[str, str | None, str | None]]) -> str:
    out = [p for p in parts if p]
    for col in columns:
        out.extend(p for p in col if p)
    text_ = " ".join(out).lower()
    return text_ + GRAMS_MARK + " ".join(short_grams(" ".join(out[1:]).lower())) + " "


def short_grams(text_: str) -> list[str]:
    """Distinct 1- and 2-character pieces of the names, as words: a trigram index can then answer
    one- and two-character terms (e.g. 企业) as ``LIKE '% 企业 %'`` instead of scanning."""
    seen: dict[str, None] = {}
    for word in re.split(r"[\s_.,;:，。；：、()（）]+", text_):
        for i in range(len(word)):
            seen[word[i]] = None
            if i + 1 < len(word):
                seen[word[i:i + 2]] = None
    return list(seen)


def add_documents(session: Session, docs: list[tuple[str, str]]) -> None:
    """Index assets just inserted with their ``search_text`` already set (``document_of_values``):
    on SQLite add their FTS5 rows; PostgreSQL's pg_trgm index follows the column by itself."""
    if docs and session.get_bind().dialect.name == "sqlite":
        for start in range(0, len(docs), CHUNK * 10):
            session.execute(text("INSERT INTO catalog_search_fts (asset_id, search_text) VALUES (:b_id, :b_text)"),
                            [{"b_id": i, "b_text": t} for i, t in docs[start:start + CHUNK * 10]])


def index_assets(session: Session, asset_ids: list[str]) -> None:
    """Rebuild the search documents of these assets (and their FTS5 rows on SQLite).

    Reads plain rows rather than ORM objects (a harvest indexes tens of thousands of
    assets), and on SQLite deletes old FTS5 rows in one statement: ``asset_id`` is not
    indexed there, so each delete scans the FTS table. Assets never indexed (empty
    ``search_text``, as a harvest or import creates them) have no FTS row to delete.
    """
    if not asset_ids:
        return
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    table = Asset.__table__
    indexed: list[str] = []
    for start in range(0, len(asset_ids), CHUNK):
        ids = asset_ids[start:start + CHUNK]
        assets = session.execute(select(Asset.id, Asset.qualified_name, Asset.name, Asset.cn_name,
                                        Asset.description, Asset.tags, Asset.caliber, Asset.search_text)
                                 .where(Asset.id.in_(ids))).all()
        cols: dict[str, list[Any]] = defaultdict(list)
        for c in session.execute(select(AssetColumn.asset_id, AssetColumn.name, AssetColumn.cn_name,
                                        AssetColumn.description)
                                 .where(AssetColumn.asset_id.in_(ids)).order_by(AssetColumn.position)):
            cols[c.asset_id].append(c)
        docs = [{"b_id": a.id, "b_text": document(a, cols[a.id])} for a in assets]
        if not docs:
            continue
        indexed.extend(a.id for a in assets if a.search_text)
        session.connection().execute(update(table).where(table.c.id == bindparam("b_id"))
                                     .values(search_text=bindparam("b_text")), docs)
        if is_sqlite:
            if indexed:
                session.execute(text("DELETE FROM catalog_search_fts WHERE asset_id IN "
                                     "(SELECT value FROM json_each(:ids))"), {"ids": json.dumps(indexed)})
                indexed = []
            session.execute(text("INSERT INTO catalog_search_fts (asset_id, search_text) "
                                 "VALUES (:b_id, :b_text)"), docs)
    idset = set(asset_ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Asset) and obj.id in idset:
            session.expire(obj, ["search_text"])
