"""Salted digests: what may go on chain about things derived from personal data.

A workspace salt (32 random bytes in ``<home>/chain/salt.key``) keys every digest
that must be recomputable (asset keys, grantee keys, share digests), so nobody
holding the chain can test guesses of a name or ID against it. Merkle leaves get a
fresh random salt each, stored beside the item.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from govfabric.errors import ConfigError


class Salter:
    def __init__(self, salt: bytes) -> None:
        if len(salt) < 16:
            raise ConfigError("the chain salt is shorter than 16 bytes; restore it from backup")
        self._salt = salt

    @classmethod
    def from_file(cls, path: Path) -> Salter:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        try:
            return cls(bytes.fromhex(path.read_text().strip()))
        except ValueError as exc:
            raise ConfigError(f"chain salt file {path} is not hex; restore it from backup") from exc

    def key(self, domain: str, value: str) -> bytes:
        """HMAC-SHA256(salt, domain || 0x00 || value): a stable, unguessable 32-byte key."""
        return hmac.new(self._salt, domain.encode() + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()


def leaf_data(salt: bytes, item_id: str, digest: bytes) -> bytes:
    """The bytes a Merkle leaf commits to: its salt, the item id (length-prefixed) and the digest."""
    raw_id = item_id.encode("utf-8")
    return salt + len(raw_id).to_bytes(4, "big") + raw_id + digest
