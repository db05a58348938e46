"""The search document of each asset, kept in step with every write.

``search_text`` joins the asset's names, description, tags and its columns' names
into one lower-cased string. SQLite mirrors it into an FTS5 trigram table, and
PostgreSQL indexes it with pg_trgm: both answer substring queries — Chinese
included — from an index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, AssetColumn

CHUNK = 500


def document(asset: Asset, columns: Iterable[AssetColumn]) -> str:
    parts = [asset.qualified_name, asset.name, asset.cn_name or "", asset.description or "",
             " ".join(asset.tags or []), asset.caliber or ""]
    for c in columns:
        parts.extend([c.name, c.cn_name or "", c.description or ""])
    return " ".join(p for p in parts if p).lower()


def index_assets(session: Session, asset_ids: list[str]) -> None:
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    for start in range(0, len(asset_ids), CHUNK):
        ids = asset_ids[start:start + CHUNK]
        assets = list(session.scalars(select(Asset).where(Asset.id.in_(ids))))
        cols: dict[str, list[AssetColumn]] = defaultdict(list)
        for c in session.scalars(select(AssetColumn).where(AssetColumn.asset_id.in_(ids))
                                 .order_by(AssetColumn.position)):
            cols[c.asset_id].append(c)
        docs = [{"b_id": a.id, "b_text": document(a, cols[a.id])} for a in assets]
        if not docs:
            continue
        table = Asset.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("b_id")).values(search_text=bindparam("b_text")), docs)
        if is_sqlite:
            session.execute(text("DELETE FROM catalog_search_fts WHERE asset_id IN :ids")
                            .bindparams(bindparam("ids", expanding=True)), {"ids": ids})
            session.execute(text("INSERT INTO catalog_search_fts (asset_id, search_text) VALUES (:b_id, :b_text)"),
                            docs)
        for a in assets:
            session.expire(a, ["search_text"])
