"""catalog search index: an entry per active asset and a gram index over it

Replaces b1e5a0c0ffee's structures (FTS5 trigram over the whole document on SQLite, pg_trgm over
``catalog_assets.search_text`` on PostgreSQL), which read every candidate's whole document and
could not look up 1–2 character terms. ``catalog_search_entries`` holds each active asset's
qualified name, lower-cased names, description and document; the 1–2 character grams of their
words are looked up in a contentless FTS5 table (SQLite, hand-made here) or a GIN index over a
token array (PostgreSQL). See ``govfabric/catalog/search_index.py``. Upgrading indexes the
assets already registered; downgrading restores b1e5a0c0ffee's document column and index.

Revision ID: c93a27fde6a0
Revises: b1e5a0c0ffee
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c93a27fde6a0"
down_revision = "b1e5a0c0ffee"
branch_labels = None
depends_on = None

BYTEWISE = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    from govfabric.catalog.search_index import rebuild

    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TABLE IF EXISTS catalog_search_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_catalog_assets_search_trgm")
    op.drop_column("catalog_assets", "search_text")
    op.create_table(
        "catalog_search_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("qualified_name", sa.Text(), nullable=False),
        sa.Column("name", BYTEWISE, nullable=False),
        sa.Column("cn", BYTEWISE, nullable=False),
        sa.Column("descr", sa.Text(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql"), nullable=True),
        sa.ForeignKeyConstraint(["asset_id"], ["catalog_assets.id"], ondelete="CASCADE",
                                name=op.f("fk_catalog_search_entries_asset_id_catalog_assets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_search_entries")),
        sa.UniqueConstraint("asset_id", name=op.f("uq_catalog_search_entries_asset_id")),
        sqlite_autoincrement=True,
    )
    if sqlite:
        op.execute("CREATE VIRTUAL TABLE catalog_search_fts_grams USING fts5("
                   "tokens, tokenize='ascii', detail='none', content='', columnsize=0)")
    rebuild(bind)  # before the indexes: building them at once is faster than keeping them up to date
    op.create_index(op.f("ix_catalog_search_entries_name"), "catalog_search_entries", ["name"])
    op.create_index(op.f("ix_catalog_search_entries_cn"), "catalog_search_entries", ["cn"])
    op.create_index("ix_catalog_search_entries_tokens", "catalog_search_entries", ["tokens"],
                    postgresql_using="gin", sqlite_where=sa.text("0"))
    if not sqlite:
        # no statistics on the tokens: the planner then always looks them up in the GIN index; with
        # statistics it checks common tokens row by row, decompressing every row's array (~100× slower)
        op.execute("ALTER TABLE catalog_search_entries ALTER COLUMN tokens SET STATISTICS 0")
        op.execute("ANALYZE catalog_search_entries")


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column("catalog_assets", sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    docs = [{"b_id": r.asset_id, "b_text": _old_document(r.doc)}
            for r in bind.execute(sa.text("SELECT asset_id, doc FROM catalog_search_entries"))]
    if docs:
        bind.execute(sa.text("UPDATE catalog_assets SET search_text = :b_text WHERE id = :b_id"), docs)
    op.drop_table("catalog_search_entries")
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE catalog_search_fts_grams")
        op.execute("CREATE VIRTUAL TABLE catalog_search_fts USING fts5("
                   "asset_id UNINDEXED, search_text, tokenize='trigram')")
        if docs:
            bind.execute(sa.text("INSERT INTO catalog_search_fts (asset_id, search_text) VALUES (:b_id, :b_text)"),
                         docs)
    else:
        op.execute("CREATE INDEX ix_catalog_assets_search_trgm ON catalog_assets "
                   "USING gin (search_text gin_trgm_ops)")


def _old_document(doc: str) -> str:
    """b1e5a0c0ffee's document: the text (qualified name first), then the 1–2 character pieces of
    the other words as words."""
    seen: dict[str, None] = {}
    for word in re.split(r"[\s_.,;:，。；：、()（）]+", doc.split(" ", 1)[-1]):
        for i in range(len(word)):
            seen[word[i]] = None
            if i + 1 < len(word):
                seen[word[i:i + 2]] = None
    return doc + " \x1f " + " ".join(seen) + " "
