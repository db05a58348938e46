"""The lineage module's migrations on a PostgreSQL store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command
from infra.alembic_run import run_alembic

pytestmark = pytest.mark.postgres

COMPRESSION = sa.text("SELECT attcompression FROM pg_attribute "
                      "WHERE attrelid = 'gov_lineage_events'::regclass AND attname = 'payload'")


def test_payloads_are_compressed_with_lz4_and_downgrade_restores_the_default(
        make_pg_database: Callable[[], str]) -> None:
    from govfabric.store import Store

    store = Store(make_pg_database())
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.scalar(COMPRESSION) == "l"  # lz4 (Debian's PostgreSQL is built with it)
        conn.exec_driver_sql("INSERT INTO gov_lineage_events (id, run_id, event_type, event_time, job_namespace, "
                             "job_name, inputs, outputs, payload) VALUES ('e1', 'r1', 'COMPLETE', now(), 'ns', 'j', "
                             "'[]', '[]', %(p)s)", {"p": '{"k": "' + "值" * 300_000 + '"}'})
        assert conn.scalar(sa.text("SELECT pg_column_compression(payload) FROM gov_lineage_events")) == "lz4"
        assert conn.scalar(sa.text("SELECT length(payload::text) FROM gov_lineage_events")) == 300_009
        conn.commit()
    run_alembic(store, command.downgrade, "efe59fd54dfa")
    with store.engine.connect() as conn:
        assert conn.scalar(COMPRESSION) == ""
    store.dispose()
