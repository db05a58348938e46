"""What a harvester reads from a source, before anything is written."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from govfabric.canonical import canonical


@dataclass
class ColumnMeta:
    name: str
    data_type: str
    nullable: bool = True
    comment: str | None = None
    position: int = 0


@dataclass
class TableMeta:
    schema: str
    name: str
    kind: str = "table"  # table | view | file | sheet
    comment: str | None = None
    row_count: int | None = None
    columns: list[ColumnMeta] = field(default_factory=list)
    location: dict[str, Any] = field(default_factory=dict)
    content_signature: str | None = None
    signature_algo: str | None = None

    def key(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def structure(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "type": c.data_type, "nullable": c.nullable} for c in self.columns]


def structure_hash(structure: list[dict[str, Any]]) -> str:
    """SHA-256 of the RFC 8785 form. For structures (strings and booleans) it is byte for byte the
    sorted-keys compact JSON orjson writes, so digests already stored stay equal and no asset looks changed.

    That sameness is also the fast path (the pure-Python RFC 8785 writer took most of a first
    harvest's sync; the stdlib's C encoder then still 0.23 s per 10,000 tables, orjson 0.02 s):
    ASCII keys sort alike by code point, by UTF-8 byte and by UTF-16 unit, and both forms write
    non-ASCII as it is and escape exactly ``"``, ``\\`` and control characters, alike. Anything else
    goes through :func:`canonical`."""
    kinds = {type(v) for c in structure for v in c.values()}  # sets: far cheaper than all() over a generator
    if kinds <= {str, bool} and all(type(k) is str and k.isascii() for k in {k for c in structure for k in c}):
        try:
            return hashlib.sha256(orjson.dumps(structure, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:  # a lone surrogate: canonical() says what is wrong
            pass
    return hashlib.sha256(canonical(structure)).hexdigest()


def as_dict(t: TableMeta) -> dict[str, Any]:
    return asdict(t)
