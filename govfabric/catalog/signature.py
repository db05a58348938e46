"""Content signatures (§8.4.4.2c): a digest of the data itself, SHA-256 or SM3.

Files are digested byte for byte. Tables are digested row by row in a canonical
order (ORDER BY every column) so that the same content gives the same signature
wherever it is read from; each row is serialised as JSON of its values.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from govfabric.catalog.models import Asset, Source
from govfabric.catalog.sources import kind_of
from govfabric.errors import ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.service import Catalog

ALGOS = ("sha256", "sm3")


def new_hash(algo: str) -> Any:
    if algo not in ALGOS:
        raise ValidationFailed(f"unknown signature algorithm {algo!r}; use sha256 or sm3")
    return hashlib.new(algo)


def sign_asset(catalog: Catalog, src: Source, a: Asset, algo: str) -> str:
    return kind_of(src).digest(catalog, src, a, algo)
