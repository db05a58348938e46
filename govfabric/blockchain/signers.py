"""Transaction signers behind one small protocol, and the workspace's key files.

EVM chains need secp256k1 signatures; a chain that signs with SM2 (FISCO BCOS in
its national-crypto mode) adds a signer class here and an adapter that accepts it.
Keys live in ``<home>/chain/keys/<name>.key`` (hex, mode 0600), never in the store.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol

from govfabric.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Signer(Protocol):
    scheme: str

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


class Secp256k1Signer:
    """An Ethereum account key (eth-account)."""

    scheme = "secp256k1"

    def __init__(self, private_key: bytes) -> None:
        from eth_account import Account

        self._account = Account.from_key(private_key)

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)


class KeyStore:
    """Named signing keys of one workspace, created on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ConfigError(f"invalid key name {name!r}: use letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.key"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def signer(self, name: str, create: bool = True) -> Secp256k1Signer:
        path = self.path(name)
        if not path.exists():
            if not create:
                raise ConfigError(f"no chain key {name!r} in {self.directory}")
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        try:
            key = bytes.fromhex(path.read_text().strip())
        except ValueError as exc:
            raise ConfigError(f"chain key file {path} is not hex; restore it from backup") from exc
        return Secp256k1Signer(key)

    def import_key(self, name: str, private_key_hex: str) -> Secp256k1Signer:
        """Install a key (e.g. a funded account on a production network)."""
        path = self.path(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        key = bytes.fromhex(private_key_hex.removeprefix("0x"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex())
        return Secp256k1Signer(key)
