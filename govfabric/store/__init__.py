"""The metadata store (SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govfabric.store.base import Base, new_id, utcnow
    from govfabric.store.db import Store

__all__ = ["Base", "Store", "new_id", "utcnow"]

#: name → its module, imported at first use: ``base`` loads the ORM, which `govfabric status` never needs
_HOMES = {"Base": "govfabric.store.base", "new_id": "govfabric.store.base", "utcnow": "govfabric.store.base",
          "Store": "govfabric.store.db"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
