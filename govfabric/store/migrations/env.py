"""Alembic environment shared by all module branches."""

from __future__ import annotations

from alembic import context

from govfabric.store.base import Base
from govfabric.store.registry import load_models

config = context.config
only_prefix = config.attributes.get("only_prefix")
if only_prefix:  # autogenerating a module's revision compares the store with every model; an upgrade
    load_models()  # runs the scripts, which import what they use (≈ 0.06 s of models a command may never load)


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and only_prefix:
        return bool(name and name.startswith(only_prefix))
    if type_ != "table" and only_prefix:
        table = getattr(obj, "table", None)
        return bool(table is None or table.name.startswith(only_prefix))
    return True


connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
