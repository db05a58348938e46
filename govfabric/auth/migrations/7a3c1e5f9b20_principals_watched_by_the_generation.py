"""principals watched by the virtualization generation counter (no schema change)

The virtualization revision 5b7e2d9c4a61 puts triggers on ``auth_principals`` and so depends
on this branch's first revision. Alembic drops a revision from the version table once another
branch's revision depends on it; this empty revision keeps the auth branch's own head there
(every module keeps one head, tests/store). A later auth revision revises this one.

Revision ID: 7a3c1e5f9b20
Revises: c8f37f1caca7
Create Date: 2026-12-03 14:50:00.000000
"""
from __future__ import annotations

revision = '7a3c1e5f9b20'
down_revision = 'c8f37f1caca7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
