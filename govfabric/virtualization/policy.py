"""Plain values the SQL pipeline works on: virtual tables and views, and one principal's policy.

The pipeline is engine- and storage-agnostic: the catalog and the grant tables turn their rows
into these values, and ``pipeline.plan`` consumes them. Virtual names (``schema.table``) and
virtual column names are case-insensitive and kept in lowercase.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from govfabric.errors import QueryRejected

#: Engines the pipeline can generate SQL for.
ENGINES: tuple[str, ...] = ("duckdb", "trino")


@dataclass(frozen=True)
class VirtualColumn:
    """One column of a virtual table.

    ``physical`` names a physical column (exact spelling, quoted when generated); ``expr`` is a
    SQL expression over physical columns (e.g. ``CAST(zczb AS DECIMAL(18, 2))``) in the table's
    ``expr_dialect``. Exactly one of them is set. ``hidden`` columns are never visible to users
    (not even to ``SELECT *``) but row filters may use them.
    """

    name: str
    type: str = "VARCHAR"
    physical: str | None = None
    expr: str | None = None
    hidden: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())
        if (self.physical is None) == (self.expr is None):
            raise ValueError(f"virtual column {self.name!r} needs exactly one of physical= or expr=")


@dataclass(frozen=True)
class VirtualTable:
    """A stable virtual name mapped onto one physical table per engine.

    ``physical`` maps an engine name (``duckdb``, ``trino``) to ``(catalog, schema, table)``.
    """

    name: str
    physical: Mapping[str, tuple[str, str, str]]
    columns: tuple[VirtualColumn, ...]
    expr_dialect: str = "duckdb"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.name.count(".") != 1:
            raise ValueError(f"virtual table name {self.name!r} must be schema.table")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"virtual table {self.name!r} has duplicate column names")

    def column(self, name: str) -> VirtualColumn | None:
        name = name.lower()
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def visible_columns(self) -> tuple[VirtualColumn, ...]:
        return tuple(c for c in self.columns if not c.hidden)


@dataclass(frozen=True)
class VirtualView:
    """A named query over virtual names, expanded into the user's query (invoker's rights:
    the grants, masks and row filters of the tables it reads apply to whoever queries it)."""

    name: str
    sql: str
    dialect: str = "duckdb"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())
        if self.name.count(".") != 1:
            raise ValueError(f"virtual view name {self.name!r} must be schema.view")


class Resolver(Protocol):
    """Looks virtual names up; the catalog implements it over its tables."""

    def resolve(self, name: str) -> VirtualTable | VirtualView:
        """Return the object, or raise ``QueryRejected`` naming the nearest known names."""
        ...

    def names(self) -> list[str]: ...


def unknown_name(kind: str, name: str, known: Iterable[str]) -> QueryRejected:
    """The error for an unknown name, suggesting the nearest known ones."""
    near = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; list the catalog to see what exists"
    return QueryRejected(f"unknown {kind} {name}{hint}")


class MappingResolver:
    """A ``Resolver`` over an in-memory list of tables and views."""

    def __init__(self, objects: Iterable[VirtualTable | VirtualView]) -> None:
        self._objects: dict[str, VirtualTable | VirtualView] = {}
        for obj in objects:
            if obj.name in self._objects:
                raise ValueError(f"duplicate virtual name {obj.name!r}")
            self._objects[obj.name] = obj

    def resolve(self, name: str) -> VirtualTable | VirtualView:
        obj = self._objects.get(name.lower())
        if obj is None:
            raise unknown_name("table", name, self._objects)
        return obj

    def names(self) -> list[str]:
        return sorted(self._objects)


@dataclass(frozen=True)
class MaskSpec:
    """A mask rule name from ``masks.MASKS`` and its parameters."""

    rule: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableGrant:
    """What one principal may read of one virtual table.

    - ``columns``: columns granted in clear; ``None`` means every visible column.
    - ``masks``: column → mask. A masked column is visible **only** in masked form, whether or
      not it is also in ``columns`` (a mask always wins), so granting a column "in masked mode"
      means listing it here.
    - ``row_filters``: predicates over the table's virtual columns (hidden ones included) in
      ``filter_dialect``; all of them must hold (AND). To express "any of several grants", the
      caller ORs them into one predicate. They may use the principal's attributes as
      ``principal_attr('region')`` or ``:principal.region``.
    """

    columns: frozenset[str] | None = None
    masks: Mapping[str, MaskSpec] = field(default_factory=dict)
    row_filters: tuple[str, ...] = ()
    filter_dialect: str = "duckdb"

    def __post_init__(self) -> None:
        if self.columns is not None:
            object.__setattr__(self, "columns", frozenset(c.lower() for c in self.columns))
        object.__setattr__(self, "masks", {k.lower(): v for k, v in self.masks.items()})
        object.__setattr__(self, "row_filters", tuple(self.row_filters))

    def visible(self, table: VirtualTable) -> dict[str, MaskSpec | None]:
        """Visible column name → its mask (``None`` = clear), in table order."""
        out: dict[str, MaskSpec | None] = {}
        for col in table.visible_columns:
            if col.name in self.masks:
                out[col.name] = self.masks[col.name]
            elif self.columns is None or col.name in self.columns:
                out[col.name] = None
        return out


@dataclass(frozen=True)
class Policy:
    """The acting principal's grants (expiry already checked by the caller). Default deny:
    a virtual table without an entry in ``tables`` cannot be read at all."""

    principal: str
    tables: Mapping[str, TableGrant] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", {k.lower(): v for k, v in self.tables.items()})
