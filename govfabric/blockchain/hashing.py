"""Pluggable 32-byte hash functions for Merkle trees and digests (SHA-256, Keccak-256, SM3).

Every on-chain root is 32 bytes whatever the algorithm, so the contracts need not
know which one a batch used; the anchor's metadata digest names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from govfabric.errors import ConfigError


@dataclass(frozen=True)
class HashAlgorithm:
    name: str
    digest: Callable[[bytes], bytes]
    #: a hashlib-style constructor (``new(data).digest()``), for tight loops without a wrapper call
    new: Callable[[bytes], Any] | None = None


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _keccak256(data: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(data)


def _sm3(data: bytes) -> bytes:
    h = hashlib.new("sm3")
    h.update(data)
    return h.digest()


HASHES: dict[str, HashAlgorithm] = {
    "sha256": HashAlgorithm("sha256", _sha256, hashlib.sha256),
    "keccak256": HashAlgorithm("keccak256", _keccak256),
    "sm3": HashAlgorithm("sm3", _sm3),
}


def get_hash(name: str) -> HashAlgorithm:
    """The named algorithm; SM3 needs OpenSSL 3 with SM3 enabled."""
    algo = HASHES.get(name.lower())
    if algo is None:
        raise ConfigError(f"unknown hash algorithm {name!r}; choose one of {', '.join(HASHES)}")
    if algo.name == "sm3":
        try:
            hashlib.new("sm3")
        except ValueError as exc:
            raise ConfigError("SM3 is not available in this OpenSSL build; use sha256 or keccak256") from exc
    return algo
