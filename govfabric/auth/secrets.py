"""Secrets: never stored in plain text, never logged.

A source password is either a reference to an environment variable (``env:NAME``,
resolved only when connecting) or encrypted with the workspace key (Fernet,
AES-128-CBC + HMAC-SHA256) kept in a 0600 file outside the store.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from govfabric.errors import ConfigError


class SecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not self.key_file.exists():
                self.key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
            self._fernet = Fernet(self.key_file.read_bytes().strip())
        return self._fernet

    def ensure(self) -> None:
        """Create the key file (0600) now if it is missing."""
        self._key()

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for one purpose (mask hashing, audit chain, subject pseudonyms…) derived from the
        workspace key with HKDF-SHA256, so callers never hold the workspace key itself and keys
        of different purposes are independent."""
        self._key()
        raw = self.key_file.read_bytes().strip()
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                    info=b"govfabric:" + purpose.encode("utf-8")).derive(raw)

    def seal(self, plaintext: str) -> str:
        return self._key().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._key().decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ConfigError(
                f"a stored secret cannot be decrypted with {self.key_file}: the workspace key changed; "
                "re-register the source's password"
            ) from exc


def resolve_env_ref(ref: str) -> str:
    """``env:NAME`` → the variable's value, with an error naming the variable if unset."""
    name = ref.removeprefix("env:")
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} (referenced as the password) is not set")
    return value


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets from a message before it is shown or logged."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
