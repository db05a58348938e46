"""catalog search index: FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL

Both serve substring search (Chinese included) over assets' search_text, so that
"营业执照" finds 企业营业执照信息 on either store backend.

Revision ID: b1e5a0c0ffee
Revises: ac9ca5355eb8
"""
from __future__ import annotations

from alembic import op

revision = "b1e5a0c0ffee"
down_revision = "ac9ca5355eb8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE catalog_search_fts USING fts5("
            "asset_id UNINDEXED, search_text, tokenize='trigram')"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_catalog_assets_search_trgm ON catalog_assets "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS catalog_search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_assets_search_trgm")
