"""HTTP Message Signatures (RFC 9421) for apps, on the ``http-message-signatures`` library.

A request must cover ``@method``, ``@target-uri``, ``content-digest`` (when it has a body; the digest
is checked against the body), and carry ``created``, ``keyid`` and ``nonce`` parameters. Signatures
older than :data:`MAX_AGE_S` or dated beyond the clock skew are refused, and a nonce is accepted
once per key (the replay store is ours: the library leaves replay to the caller). Algorithms:
``hmac-sha256`` and ``hmac-sm3`` (HMAC over 国密 SM3, for deployments that must use it).
Every refusal carries a reason code that the server answers in its 401."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import http_sf
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)
from http_message_signatures.algorithms import HMAC_SHA256
from http_message_signatures.exceptions import HTTPMessageSignaturesException

MAX_AGE_S = 300
CLOCK_SKEW_S = 30
REQUIRED = ("@method", "@target-uri")
MAX_NONCE_CHARS = 128
#: the covered components a verified signature must list, as the library keys them (serialized, no parameters)
_REQUIRED_IDS = tuple(f'"{c}"' for c in REQUIRED)
_DIGEST_ID = '"content-digest"'
INCOMPLETE = "the signature must cover @method, @target-uri and, with a body, content-digest"


class HMAC_SM3(HTTPSignatureAlgorithm):
    """HMAC with SM3 (GB/T 32905) over the signature base: ``hmac-sm3``."""

    algorithm_id = "hmac-sm3"

    def __init__(self, public_key: bytes | None = None, private_key: bytes | None = None,
                 shared_secret: bytes | None = None) -> None:
        key = shared_secret or private_key or public_key
        if key is None:
            raise HTTPMessageSignaturesException("An HMAC key must be supplied")
        self.shared_secret = key

    def _mac(self, message: bytes) -> bytes:
        return hmac.new(self.shared_secret, message, lambda *a: hashlib.new("sm3", *a)).digest()

    def sign(self, message: bytes) -> bytes:
        return self._mac(message)

    def verify(self, signature: bytes, message: bytes) -> None:
        if not hmac.compare_digest(self._mac(message), signature):
            raise InvalidSignature("Signature verification failed")


ALGORITHMS: dict[str, type[HTTPSignatureAlgorithm]] = {"hmac-sha256": HMAC_SHA256, "hmac-sm3": HMAC_SM3}


class SignatureRefused(Exception):
    """Why a signed request is refused; ``code`` is the 401's reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Message(Protocol):
    method: str
    url: str
    headers: Mapping[str, str]


@dataclass
class RequestView:
    """What the library reads from a request: method, absolute URL, headers."""

    method: str
    url: str
    headers: Any


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, secret: bytes) -> None:
        self.key_id, self.secret = key_id, secret

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return self.secret if key_id == self.key_id else None

    def resolve_private_key(self, key_id: str) -> bytes:
        return self.secret


class NonceStore:
    """Nonces seen within the signature lifetime, in memory (one process) with a TTL."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def first_use(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now >= self._next_sweep:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                self._next_sweep = now + 10
            if self._seen.get(key, 0.0) > now:
                return False
            self._seen[key] = now + self.ttl_s
            return True


class FileNonceStore:
    """Nonces in a SQLite file of the workspace, shared by every process of ``govfabric serve`` on
    this host: with ``--workers N`` and no Redis a nonce one worker accepted is refused by the
    others (per-process memory let a captured request be replayed once to each other worker). Kept
    for the signature lifetime; write-ahead log without fsync, as nothing needs them after a
    restart (the in-memory store forgets them too). Several hosts share nonces through Redis."""

    SWEEP_S = 10

    def __init__(self, path: Path, ttl_s: float) -> None:
        import sqlite3

        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        # one connection per process, used under the lock (a statement takes ~10 µs)
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("CREATE TABLE IF NOT EXISTS nonce (key TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID")

    def first_use(self, key: str) -> bool:
        now = time.time()  # the wall clock: the processes compare each other's times
        with self._lock:
            if now >= self._next_sweep:
                self._conn.execute("DELETE FROM nonce WHERE until <= ?", (now,))
                self._next_sweep = now + self.SWEEP_S
            cur = self._conn.execute("INSERT INTO nonce VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                                     "SET until = excluded.until WHERE nonce.until <= ?", (key, now + self.ttl_s, now))
            return cur.rowcount == 1


class RedisNonceStore:
    """Nonces in Redis (``SET NX EX``): shared by every worker and every server behind a balancer."""

    def __init__(self, url: str, ttl_s: float) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.ttl_s = int(ttl_s) + 1

    def first_use(self, key: str) -> bool:
        return bool(self.client.set(f"govfabric:nonce:{key}", b"1", nx=True, ex=self.ttl_s))


def nonce_store(redis_url: str | None, max_age_s: int = MAX_AGE_S, skew_s: int = CLOCK_SKEW_S,
                path: Path | None = None) -> NonceStore | FileNonceStore | RedisNonceStore:
    """Redis when configured; else the file ``path`` shared by this host's server processes, if
    given; else this process's memory."""
    ttl = max_age_s + 2 * skew_s
    if redis_url:
        return RedisNonceStore(redis_url, ttl)
    return FileNonceStore(path, ttl) if path is not None else NonceStore(ttl)


def signature_params(headers: Mapping[str, str]) -> dict[str, Any]:
    """The parameters (keyid, alg, created, nonce) of the request's one signature."""
    raw = headers.get("signature-input")
    if not raw or not headers.get("signature"):
        raise SignatureRefused("signature_missing", "the request is not signed: send Signature-Input and "
                               "Signature headers (RFC 9421; see docs/api.md)")
    try:
        parsed = http_sf.parse(raw.encode(), tltype="dictionary")
    except Exception:
        raise SignatureRefused("signature_invalid", "the Signature-Input header is malformed") from None
    if not isinstance(parsed, dict):  # always a dict for tltype="dictionary"; http_sf's return type is the union
        raise SignatureRefused("signature_invalid", "the Signature-Input header is malformed")
    if len(parsed) != 1:
        raise SignatureRefused("signature_invalid", "send exactly one signature")
    (_, member), = parsed.items()
    if not isinstance(member, tuple) or not isinstance(member[1], dict):
        raise SignatureRefused("signature_invalid", "the Signature-Input header is malformed")
    return dict(member[1])


def verify(request: Message, body: bytes, *, key_id: str, secret: bytes, alg: str,
           first_use: Callable[[str], bool], max_age_s: int = MAX_AGE_S, skew_s: int = CLOCK_SKEW_S,
           now: float | None = None, params: Mapping[str, Any] | None = None) -> None:
    """Verify one signed request with the app's secret; raises :class:`SignatureRefused`.
    ``params``: the request's :func:`signature_params` when the caller already parsed them."""
    params = signature_params(request.headers) if params is None else params
    if params.get("alg") not in (None, alg):
        raise SignatureRefused("signature_invalid", f"the signature's alg is not this app's ({alg})")
    created = params.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise SignatureRefused("signature_invalid", "the signature has no integer created parameter")
    clock = time.time() if now is None else now
    if created > clock + skew_s:
        raise SignatureRefused("clock_skew", f"the signature is dated {created - clock:.0f} s in the future; "
                               "synchronise the caller's clock (NTP)")
    if created < clock - max_age_s:
        raise SignatureRefused("signature_expired", f"the signature is older than {max_age_s} s; sign each "
                               "request when sending it")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= MAX_NONCE_CHARS:
        raise SignatureRefused("nonce_missing", "the signature needs a nonce parameter of 8–128 characters, "
                               "new for every request")
    verifier = HTTPMessageVerifier(signature_algorithm=ALGORITHMS[alg], key_resolver=_OneKey(key_id, secret))
    # our clock skew, not the library's 5 s: a signature dated 6–30 s ahead passed the check above and
    # was then refused as "signature_invalid"
    verifier.max_clock_skew = datetime.timedelta(seconds=skew_s)
    # As ``verifier.verify(…, require_components=…, body=body)``, in its order (signature, coverage, body),
    # leaner: coverage checked on the verified components' keys (the library parses the required and
    # covered ids again as structured fields: a fifth of a verification; both compare ids without
    # parameters), and the body check skipped when there is neither a body nor a Content-Digest
    # (it has nothing to check then, and re-reads every header).
    try:
        results = verifier.verify(request, max_age=datetime.timedelta(seconds=max_age_s + skew_s))
        required = (*_REQUIRED_IDS, *([_DIGEST_ID] if body else []))
        if any(c not in r.covered_components for r in results for c in required):
            raise SignatureRefused("signature_incomplete", INCOMPLETE)
        if body or "content-digest" in request.headers:
            verifier.verify_body(request, results, body)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        text = str(exc)
        if "Content-Digest does not match" in text:
            raise SignatureRefused("digest_mismatch", "the Content-Digest does not match the body") from None
        if "requires a signed Content-Digest" in text:
            raise SignatureRefused("signature_incomplete", INCOMPLETE) from None
        raise SignatureRefused("signature_invalid", "the signature does not verify: check the secret, the "
                               "covered components and the URL signed (scheme, host, port, path, query)") from None
    if not first_use(f"{key_id}:{nonce}"):
        raise SignatureRefused("nonce_replayed", "this nonce was already used; sign every request with a new "
                               "nonce")


def sign(request: Any, *, key_id: str, secret: bytes, alg: str = "hmac-sha256", body: bytes | None = None,
         nonce: str | None = None, created: datetime.datetime | None = None) -> None:
    """Sign a request object (method, url, headers) in place, with a content digest when it has a body."""
    import secrets as _secrets

    components = [*REQUIRED, *(["content-digest"] if body else [])]
    signer = HTTPMessageSigner(signature_algorithm=ALGORITHMS[alg], key_resolver=_OneKey(key_id, secret))
    signer.sign(request, key_id=key_id, nonce=nonce or _secrets.token_urlsafe(18), created=created,
                covered_component_ids=components, body=body or None)
