"""catalog columns: no index of their own on asset_id

``uq_catalog_columns_asset_id``'s unique index (``asset_id``, ``name``) serves every lookup by
``asset_id`` already; ``ix_catalog_columns_asset_id`` only cost a second index entry per column row
written: a first harvest of 10,000 tables writes 200,000 (PostgreSQL's ``COPY`` of them 1.83–1.96 s
with it, 1.46–1.54 s without). Downgrading makes it again.

Revision ID: 4d7e1b2c9a05
Revises: c93a27fde6a0
"""
from __future__ import annotations

from alembic import op

revision = "4d7e1b2c9a05"
down_revision = "c93a27fde6a0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_catalog_columns_asset_id", table_name="catalog_columns")


def downgrade() -> None:
    op.create_index("ix_catalog_columns_asset_id", "catalog_columns", ["asset_id"], unique=False)
