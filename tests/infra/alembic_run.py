"""Running one Alembic command on a store, as the migration tests do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_alembic(store: Any, command: Callable[[Any, str], None], target: str) -> None:
    """``command`` (``alembic.command.upgrade``/``downgrade``) to ``target`` on ``store``, in one transaction."""
    from govfabric.store.migrate import alembic_config

    cfg = alembic_config(store.engine)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command(cfg, target)
