"""The metadata store (SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL by URL)."""

from govfabric.store.base import Base, new_id, utcnow
from govfabric.store.db import Store

__all__ = ["Base", "Store", "new_id", "utcnow"]
