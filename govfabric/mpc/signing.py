"""Party keys, signatures and digests: Ed25519 by default, SM2/SM3 as the national-crypto option.

Every party holds exactly one signing key, stored in its own state directory. Public keys
travel in the federation directory; signatures are hex strings over canonical JSON
(RFC 8785, :func:`govfabric.canonical.canonical`; records written before it carry no ``canon``
marker and verify with :func:`govfabric.canonical.legacy`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govfabric.canonical import canonical
from govfabric.errors import ConfigError, SignatureInvalid

ALGORITHMS = ("ed25519", "sm2")
__all__ = ["ALGORITHMS", "KeyPair", "canonical", "check_digest", "digest", "digest_alg_for", "verify"]


def digest(data: bytes, alg: str = "sha256") -> str:
    """``alg:hex`` so a digest says how to recompute it (sha256 or sm3)."""
    if alg not in ("sha256", "sm3"):
        raise ConfigError(f"unknown digest algorithm {alg!r}; use sha256 or sm3")
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def check_digest(data: bytes, expected: str) -> bool:
    alg = expected.split(":", 1)[0]
    return alg in ("sha256", "sm3") and secrets.compare_digest(digest(data, alg), expected)


def digest_alg_for(sign_alg: str) -> str:
    return "sm3" if sign_alg == "sm2" else "sha256"


def _sm2(private_hex: str = "", public_hex: str = ""):  # type: ignore[no-untyped-def]
    from gmssl import sm2

    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    # set after construction: gmssl's constructor does ``public_key.lstrip("04")`` on keys starting
    # with "04", which also eats the key's own leading 0s and 4s (1 key in 256 failed to verify)
    crypt.public_key = public_hex
    return crypt


@dataclass(frozen=True)
class KeyPair:
    alg: str
    private_hex: str
    public_hex: str

    @classmethod
    def generate(cls, alg: str = "ed25519") -> KeyPair:
        if alg == "ed25519":
            key = Ed25519PrivateKey.generate()
            priv = key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            ).hex()
            pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cls(alg, priv, pub.hex())
        if alg == "sm2":
            from gmssl import sm2

            n = int(sm2.default_ecc_table["n"], 16)
            d = secrets.randbelow(n - 2) + 1
            priv = f"{d:064x}"
            pub = _sm2(priv)._kg(d, sm2.default_ecc_table["g"])
            return cls(alg, priv, pub)
        raise ConfigError(f"unknown signature algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")

    def sign(self, data: bytes) -> str:
        if self.alg == "ed25519":
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(self.private_hex)).sign(data).hex()
        return _sm2(self.private_hex, self.public_hex).sign_with_sm3(data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"alg": self.alg, "private": self.private_hex, "public": self.public_hex}))
        path.chmod(0o600)

    @classmethod
    def load_or_create(cls, path: Path, alg: str = "ed25519") -> KeyPair:
        if path.exists():
            raw = json.loads(path.read_text())
            return cls(raw["alg"], raw["private"], raw["public"])
        pair = cls.generate(alg)
        pair.save(path)
        return pair


def verify(alg: str, public_hex: str, data: bytes, signature: str) -> None:
    """Raise SignatureInvalid unless ``signature`` is ``public_hex``'s signature of ``data``."""
    try:
        if alg == "ed25519":
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature), data)
            return
        if alg == "sm2":
            if len(signature) == 128 and _sm2("", public_hex).verify_with_sm3(signature, data):
                return
            raise InvalidSignature
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid(
            "signature does not verify: the message or signature was altered, or it was signed by another key"
        ) from exc
    raise SignatureInvalid(f"unknown signature algorithm {alg!r}")
