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
class GrantPart:
    """One grant of a table, kept apart from the principal's other grants on it: grants never
    combine into more than one of them allows (docs/security-model.md, "Grants never widen").

    - ``columns``: the columns this grant shows; ``None`` means every visible column.
    - ``row_filter``: the rows it shows (a predicate as in ``TableGrant.row_filters``); ``None``: all.
    - ``unmasked``: masked columns it shows in clear, on its own rows only.
    """

    columns: frozenset[str] | None = None
    row_filter: str | None = None
    unmasked: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.columns is not None:
            object.__setattr__(self, "columns", frozenset(c.lower() for c in self.columns))
        object.__setattr__(self, "unmasked", frozenset(c.lower() for c in self.unmasked))

    def covers(self, column: str) -> bool:
        return self.columns is None or column in self.columns


@dataclass(frozen=True)
class TableGrant:
    """What one principal may read of one virtual table.

    - ``parts``: the principal's grants on the table, each a ``GrantPart``. A value is shown
      only where one single part covers its column and that part's row filter holds on its
      row; a row is kept when any part's filter holds (see ``rewrite.derived_table``).
    - ``columns``: without ``parts``, the one grant's columns (``None``: every visible
      column); with ``parts``, set to their union.
    - ``masks``: column → mask. A masked column is visible **only** in masked form, except
      on the rows of a part that lists it in ``unmasked``. Without ``parts``, listing a column
      here also grants it ("in masked mode"); with ``parts``, a mask never grants a column.
    - ``row_filters``: row-filter policies over the table's virtual columns (hidden ones
      included) in ``filter_dialect``; all of them must hold (AND), on top of the parts.
      They may use the principal's attributes as ``principal_attr('region')`` or
      ``:principal.region``.
    """

    columns: frozenset[str] | None = None
    masks: Mapping[str, MaskSpec] = field(default_factory=dict)
    row_filters: tuple[str, ...] = ()
    filter_dialect: str = "duckdb"
    parts: tuple[GrantPart, ...] = ()

    def __post_init__(self) -> None:
        if self.columns is not None:
            object.__setattr__(self, "columns", frozenset(c.lower() for c in self.columns))
        object.__setattr__(self, "masks", {k.lower(): v for k, v in self.masks.items()})
        object.__setattr__(self, "row_filters", tuple(self.row_filters))
        parts = tuple(dict.fromkeys(self.parts))
        if not parts:  # one grant: its columns, and masked columns in masked mode
            cols = None if self.columns is None else self.columns | frozenset(self.masks)
            parts = (GrantPart(cols),)
        elif any(p.columns is None for p in parts):
            object.__setattr__(self, "columns", None)
        else:
            object.__setattr__(self, "columns", frozenset().union(*(p.columns or () for p in parts)))
        object.__setattr__(self, "parts", parts)

    def covering(self, column: str) -> tuple[int, ...]:
        """Indexes of the parts that cover ``column``."""
        return tuple(i for i, p in enumerate(self.parts) if p.covers(column))

    def visible(self, table: VirtualTable) -> dict[str, MaskSpec | None]:
        """Visible column name → its mask (``None`` = clear on every row it is shown on), in
        table order. A column is visible if any part covers it."""
        out: dict[str, MaskSpec | None] = {}
        for col in table.visible_columns:
            covering = self.covering(col.name)
            if not covering:
                continue
            spec = self.masks.get(col.name)
            clear = spec is None or all(col.name in self.parts[i].unmasked for i in covering)
            out[col.name] = None if clear else spec
        return out

    @property
    def filtered(self) -> bool:
        """Whether some rows may be withheld (a row-filter policy or a part's row filter)."""
        return bool(self.row_filters) or any(p.row_filter is not None for p in self.parts)


@dataclass(frozen=True)
class Policy:
    """The acting principal's grants (expiry already checked by the caller). Default deny:
    a virtual table without an entry in ``tables`` cannot be read at all."""

    principal: str
    tables: Mapping[str, TableGrant] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", {k.lower(): v for k, v in self.tables.items()})
