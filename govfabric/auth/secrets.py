"""Secrets: never stored in plain text, never logged.

A source password is either a reference to an environment variable (``env:NAME``,
resolved only when connecting) or encrypted with the workspace key (Fernet,
AES-128-CBC + HMAC-SHA256) kept in a 0600 file outside the store.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

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

    def derive_hmac(self, label: bytes) -> bytes:
        """HMAC-SHA256(workspace key, ``label``): how keys were derived before :meth:`derive`, kept
        for purposes whose outputs are stored one-way (consent subject hashes cannot be re-keyed)."""
        import hashlib
        import hmac

        self._key()
        return hmac.new(self.key_file.read_bytes().strip(), label, hashlib.sha256).digest()

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


#: characters an encoder may leave unescaped (RFC 3986 sub-delims and the userinfo/path ones)
_SAFE_SETS = ("", "/", ":", "@", "!", "=", "'", "!'()*", ":/@", "!$&'()*+,;=:@", "!$&'()*+,;=:@/?", "~")


def secret_forms(secret: str) -> set[str]:
    """Every text form a secret takes on its way to a driver and back in its error: as is,
    percent-encoded (with or without "safe" characters, ``+`` for space), libpq-quoted
    (``'…'`` with ``\\'`` and ``\\\\``), SQL-quoted (``''``), JSON/Python-escaped and base64."""
    forms = {secret}
    for safe in _SAFE_SETS:
        forms.add(quote(secret, safe=safe))
        forms.add(quote_plus(secret, safe=safe))
    forms.add(secret.replace("\\", "\\\\").replace("'", "\\'"))  # libpq conninfo value
    forms.add(secret.replace("'", "''"))  # SQL literal
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(repr(secret)[1:-1])
    forms.add(secret.replace('"', '\\"'))
    raw = secret.encode("utf-8")
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(enc(raw).decode("ascii").rstrip("="))
    return {f for f in forms if f}


def _pattern(form: str) -> str:
    """A regex for one form; percent-escapes match in either hex case."""
    return "".join(
        f"%(?i:{t[1:]})" if t.startswith("%") and len(t) == 3 else re.escape(t)
        for t in re.findall(r"%[0-9A-Fa-f]{2}|.", form, flags=re.S))


#: ``scheme://user:password@`` in any URL a driver echoes
_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^\s@'\"/]+(?=@)", re.I)
#: ``password=value`` / ``"password": "value"`` in URIs, conninfo strings and JSON
_KEYED = re.compile(
    r"(?P<head>\b(?:(?:ssl)?(?:password|passwd|pwd)[\"']?\s*[=:]|pass\s*=)\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,)}\]]+)", re.I)


def open_secret(ref: str | None, box: SecretBox) -> str | None:
    """A stored secret reference (``env:NAME`` or ``fernet:…``) → the password; call it only when connecting."""
    if not ref:
        return None
    return resolve_env_ref(ref) if ref.startswith("env:") else box.open(ref.removeprefix("fernet:"))


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets from a message before it is shown or logged: every encoded form of each
    secret (see ``secret_forms``), longest first, then any password a URL or key=value pair carries."""
    forms = sorted({f for s in secrets if s for f in secret_forms(s)}, key=len, reverse=True)
    if forms:
        text = re.sub("|".join(_pattern(f) for f in forms), "***", text)
    text = _USERINFO.sub(lambda m: m.group("head") + "***", text)
    return _KEYED.sub(lambda m: m.group("head") + "***", text)
