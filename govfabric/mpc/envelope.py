"""Signed messages between parties: body + sender + nonce + timestamp, refused when replayed.

An envelope is a plain JSON object ``{"body", "meta", "sig"}``; the signature covers the
canonical bytes of ``body`` and ``meta``. Envelopes are embedded whole in later messages and
in the final report, so anyone holding the directory's public keys can re-check every step.
``meta.canon`` (signed with the rest) names the canonical form: ``"jcs"`` (RFC 8785) for every
envelope sealed now; envelopes sealed before it have none and are checked in the old form.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govfabric.canonical import CANON, form
from govfabric.errors import ConfigError, MPCError, SignatureInvalid
from govfabric.mpc.signing import KeyPair, digest, verify

MAX_SKEW_S = 300.0


@dataclass(frozen=True)
class PartyInfo:
    id: str
    role: str
    url: str
    alg: str
    public_key: str


@dataclass
class Directory:
    """Who is who: party id → role, URL and public key (the federation's trust anchor)."""

    parties: dict[str, PartyInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Directory:
        return cls({pid: PartyInfo(id=pid, **info) for pid, info in raw.get("parties", {}).items()})

    @classmethod
    def load(cls, path: Path) -> Directory:
        if not path.exists():
            raise ConfigError(f"directory file {path} does not exist; write it with the parties' public keys")
        return cls.from_dict(json.loads(path.read_text()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "parties": {
                p.id: {"role": p.role, "url": p.url, "alg": p.alg, "public_key": p.public_key}
                for p in self.parties.values()
            }
        }

    def get(self, party_id: str) -> PartyInfo:
        try:
            return self.parties[party_id]
        except KeyError:
            raise MPCError(f"party {party_id!r} is not in the directory; add it to directory.json") from None

    def with_role(self, role: str) -> list[PartyInfo]:
        return [p for p in self.parties.values() if p.role == role]


def seal(body: dict[str, Any], kind: str, sender: str, key: KeyPair) -> dict[str, Any]:
    meta = {
        "kind": kind,
        "from": sender,
        "alg": key.alg,
        "nonce": secrets.token_hex(16),
        "ts": round(time.time(), 6),
        "canon": CANON,
    }
    return {"body": body, "meta": meta, "sig": key.sign(form(CANON)({"body": body, "meta": meta}))}


def canonical_of(env: dict[str, Any]) -> Callable[[Any], bytes]:
    """The canonical form ``env`` was sealed with; digests it carries are over the same form."""
    meta = env.get("meta") if isinstance(env, dict) else None
    return form(meta.get("canon") if isinstance(meta, dict) else None)


def envelope_digest(env: dict[str, Any]) -> str:
    return digest(canonical_of(env)(env))


def check(env: dict[str, Any], directory: Directory, kind: str | None = None, sender: str | None = None) -> None:
    """Verify an envelope's signature against the directory (no freshness check: for archives)."""
    try:
        meta, body, sig = env["meta"], env["body"], env["sig"]
        who = directory.get(meta["from"])
    except (KeyError, TypeError) as exc:
        raise SignatureInvalid("message is not a signed envelope (body, meta, sig)") from exc
    if kind is not None and meta.get("kind") != kind:
        raise SignatureInvalid(f"expected a {kind!r} message, got {meta.get('kind')!r}")
    if sender is not None and meta["from"] != sender:
        raise SignatureInvalid(f"message must come from {sender!r}, not {meta['from']!r}")
    if meta.get("alg") != who.alg:
        raise SignatureInvalid(f"{who.id} signs with {who.alg}, message claims {meta.get('alg')}")
    verify(who.alg, who.public_key, canonical_of(env)({"body": body, "meta": meta}), sig)


class NonceStore:
    """Remembers every accepted nonce (appended to a file) so a replayed message is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: set[str] = set(path.read_text().split()) if path.exists() else set()

    def accept(self, env: dict[str, Any]) -> None:
        meta = env.get("meta", {})
        nonce, ts = str(meta.get("nonce", "")), float(meta.get("ts", 0))
        if abs(time.time() - ts) > MAX_SKEW_S:
            raise SignatureInvalid(
                f"message timestamp is more than {MAX_SKEW_S:.0f} s away from now; check the clocks and resend"
            )
        with self._lock:
            if not nonce or nonce in self._seen:
                raise SignatureInvalid("replayed message refused: this nonce was already used")
            self._seen.add(nonce)
            with self.path.open("a") as fh:
                fh.write(nonce + "\n")


def receive(
    env: dict[str, Any],
    directory: Directory,
    nonces: NonceStore,
    kind: str,
    sender: str | None = None,
) -> dict[str, Any]:
    """Check signature, sender, kind and freshness of a live message; return its body."""
    check(env, directory, kind=kind, sender=sender)
    nonces.accept(env)
    return env["body"]
