"""policy generation counter and its triggers

``virt_generation`` holds one row; triggers bump it in the same transaction as any write to
what a query plan is built from: the virtualization module's tables, grants, masks and row
filters, and the catalog's sources, assets and columns. Triggers, not application code, so
that every process and every code path counts, bulk UPDATEs and other modules' writes
included. They only touch ``virt_generation`` (a trigger body naming another table would
break SQLite's table rebuilds of that table). ``virtualization/cache.py`` lists the same
names and does not cache when one is missing (rebuilding a table on SQLite drops its triggers:
a migration that does must create them again).

Revision ID: 31c46094de46
Revises: 439e3bcabbc4
Create Date: 2026-11-27 14:11:20.816733
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '31c46094de46'
down_revision = '439e3bcabbc4'
branch_labels = None
# the catalog's tables, which some triggers watch; its first revision, not its head, so that the
# catalog branch keeps its own head in the version table (plpgsql resolves auth_audit_head at run time)
depends_on = ('ac9ca5355eb8',)

BUMP = "UPDATE virt_generation SET n = n + 1 WHERE id = 1"
WATCHED = ("virt_tables", "virt_views", "virt_grants", "virt_masks", "virt_row_filters", "catalog_sources",
           "catalog_assets", "catalog_columns")
OPS = ("insert", "update", "delete")
#: PostgreSQL locks rows: every writing transaction also locks the audit chain's head (audit.append),
#: usually after its writes. Taking the head before the counter keeps one lock order for all
#: writers, so a transaction that appended before a watched write cannot deadlock with one that
#: wrote first. (SQLite transactions are serialised by BEGIN IMMEDIATE.) Once per transaction: a
#: harvest inserts columns a statement at a time, and bumping (a row lock and a new row version)
#: at every one made it ~8× slower; readers see the counter move when the transaction commits,
#: and the cache plans afresh inside a transaction (virtualization/cache.py).
PG_BUMP = f"""IF current_setting('govfabric.generation_bumped', true) IS DISTINCT FROM txid_current()::text THEN
  PERFORM 1 FROM auth_audit_head WHERE id = 1 FOR UPDATE; {BUMP};
  PERFORM set_config('govfabric.generation_bumped', txid_current()::text, true);
END IF"""


def _sqlite() -> None:
    for table in WATCHED:
        for o in OPS:
            op.execute(f"CREATE TRIGGER virt_gen_{table}_{o} AFTER {o.upper()} ON {table} BEGIN {BUMP}; END")


def _postgresql() -> None:
    op.execute(f"""CREATE FUNCTION virt_gen_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {PG_BUMP}; RETURN NULL; END $$""")
    for table in WATCHED:
        op.execute(f"CREATE TRIGGER virt_gen_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION virt_gen_bump()")


def upgrade() -> None:
    op.create_table('virt_generation',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_virt_generation'))
    )
    op.execute("INSERT INTO virt_generation (id, n) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite()
    elif dialect == "postgresql":
        _postgresql()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in WATCHED:
            for o in OPS:
                op.execute(f"DROP TRIGGER IF EXISTS virt_gen_{table}_{o}")
    elif dialect == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS virt_gen_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS virt_gen_bump()")
    op.drop_table('virt_generation')
