"""the query log without its two indexes no query reads

Every recorded query inserts a ``virt_query_log`` row in the transaction that must commit before it
returns. Its indexes on ``principal`` and ``at`` were written with each row (on SQLite, 2 of the
~8.7 WAL pages a recording commits) and read by nothing: the monitoring view
(``QueryService.status``) scans the table by engine and status and the newest rows by primary key.
An index a future query needs comes back with that query.

Revision ID: 9d4c2f7a1b36
Revises: 5b7e2d9c4a61
Create Date: 2026-12-04 15:45:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '9d4c2f7a1b36'
down_revision = '5b7e2d9c4a61'
branch_labels = None
depends_on = None

INDEXES = (("ix_virt_query_log_principal", "principal"), ("ix_virt_query_log_at", "at"))


def upgrade() -> None:
    for name, _column in INDEXES:
        op.drop_index(name, table_name="virt_query_log")


def downgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "virt_query_log", [column], unique=False)
