"""principals bump the generation counter

A principal disabled, re-enabled or given other roles (or department, attributes) must take
effect on the next call of every open session, in every process. ``Fabric.actor`` keeps the
principal it read together with the value of ``virt_generation`` it read then, and reads the
principal again when the counter has moved: these triggers make every write to
``auth_principals`` move it, like the writes to the catalog and policy tables (migration
``31c46094de46``, whose PostgreSQL function ``virt_gen_bump`` they reuse). Listed in
``virtualization/cache.py``.

Revision ID: 5b7e2d9c4a61
Revises: 31c46094de46
Create Date: 2026-12-03 14:35:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '5b7e2d9c4a61'
down_revision = '31c46094de46'
branch_labels = None
# the auth module creates auth_principals in its first revision (not its head: 7a3c1e5f9b20 keeps the
# auth branch its own head in the version table)
depends_on = ('c8f37f1caca7',)

BUMP = "UPDATE virt_generation SET n = n + 1 WHERE id = 1"
TABLE = "auth_principals"
OPS = ("insert", "update", "delete")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for o in OPS:
            op.execute(f"CREATE TRIGGER virt_gen_{TABLE}_{o} AFTER {o.upper()} ON {TABLE} BEGIN {BUMP}; END")
    elif dialect == "postgresql":
        op.execute(f"CREATE TRIGGER virt_gen_{TABLE} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION virt_gen_bump()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for o in OPS:
            op.execute(f"DROP TRIGGER IF EXISTS virt_gen_{TABLE}_{o}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS virt_gen_{TABLE} ON {TABLE}")
