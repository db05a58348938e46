"""Homomorphic encryption with TenSEAL: per-task contexts, chunked vectors, framed bundles.

CKKS (N=8192, [60,40,40,60], scale 2^40, 4096 slots) carries reals; BFV (N=8192, a 40-bit
batching prime, 4096 slots used) carries integers exactly (|total| < 2^39). The requester keeps
the secret context; providers receive a public context without evaluation keys; the compute
party receives relinearisation keys and, only when the computation rotates, galois keys.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from govfabric.errors import MPCError, SignatureInvalid
from govfabric.mpc.signing import check_digest

BFV_PLAIN_MODULUS = 1099511480321  # prime, ≡ 1 mod 2·8192, so BFV batching works
POLY_DEGREE = 8192
CT_SIZE_BOUNDS = {"ckks": (50_000, 700_000), "bfv": (50_000, 900_000)}


def _ts() -> Any:
    try:
        import tenseal
    except ImportError as exc:  # pragma: no cover - tenseal is a core dependency
        raise MPCError("TenSEAL is not installed: pip install tenseal") from exc
    return tenseal


def slots(scheme: str) -> int:
    """Values per ciphertext: N/2 for both (BFV rotations stay within one batching row)."""
    return POLY_DEGREE // 2


def new_secret_context(scheme: str, galois: bool) -> Any:
    ts = _ts()
    if scheme == "ckks":
        ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=POLY_DEGREE, coeff_mod_bit_sizes=[60, 40, 40, 60])
        ctx.global_scale = 2**40
    else:
        ctx = ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=POLY_DEGREE, plain_modulus=BFV_PLAIN_MODULUS)
    if galois:
        ctx.generate_galois_keys()
    return ctx


def public_bytes(ctx: Any, *, evaluation: bool) -> bytes:
    """Serialise without the secret key; evaluation keys only for the compute party."""
    pub = ctx.copy()
    pub.make_context_public()
    return pub.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=evaluation, save_relin_keys=evaluation
    )


def load_context(data: bytes) -> Any:
    return _ts().context_from(data)


def encrypt_chunks(ctx: Any, scheme: str, values: np.ndarray) -> list[bytes]:
    """Encrypt a vector as full-slot ciphertexts (zero-padded) so every chunk adds slot-wise."""
    ts, n = _ts(), slots(scheme)
    out: list[bytes] = []
    for start in range(0, len(values), n):
        chunk = values[start : start + n]
        if scheme == "ckks":
            padded = np.zeros(n, dtype=np.float64)
            padded[: len(chunk)] = chunk
            out.append(ts.ckks_vector(ctx, padded).serialize())
        else:
            padded_i = np.zeros(n, dtype=np.int64)
            padded_i[: len(chunk)] = chunk
            out.append(ts.bfv_vector(ctx, padded_i.tolist()).serialize())
    return out


def load_vector(ctx: Any, scheme: str, data: bytes) -> Any:
    ts = _ts()
    try:
        return ts.ckks_vector_from(ctx, data) if scheme == "ckks" else ts.bfv_vector_from(ctx, data)
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError on bad bytes
        raise MPCError(f"a ciphertext could not be loaded under the task's context: {exc}") from exc


def decrypt(ctx: Any, scheme: str, data: bytes) -> np.ndarray:
    vec = load_vector(ctx, scheme, data)
    return np.asarray(vec.decrypt(), dtype=np.float64 if scheme == "ckks" else np.int64)


@dataclass
class Bundle:
    """A signed envelope followed by the binary blobs its manifest describes, in order."""

    envelope: dict[str, Any]
    blobs: dict[str, list[bytes]]

    def encode(self) -> bytes:
        head = json.dumps(self.envelope).encode()
        parts = [struct.pack(">I", len(head)), head]
        for stream in sorted(self.blobs):
            for blob in self.blobs[stream]:
                parts += [struct.pack(">Q", len(blob)), blob]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> Bundle:
        """Split the frame and check every blob against the signed manifest's digests."""
        try:
            (hlen,) = struct.unpack(">I", data[:4])
            envelope = json.loads(data[4 : 4 + hlen])
            manifest: dict[str, list[dict[str, Any]]] = envelope["body"]["manifest"]
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise MPCError("ciphertext bundle is malformed (bad header)") from exc
        pos, blobs = 4 + hlen, {}
        for stream in sorted(manifest):
            items = []
            for entry in manifest[stream]:
                if pos + 8 > len(data):
                    raise MPCError("ciphertext bundle is truncated")
                (size,) = struct.unpack(">Q", data[pos : pos + 8])
                blob = data[pos + 8 : pos + 8 + size]
                pos += 8 + size
                if size != entry["size"] or len(blob) != size or not check_digest(blob, entry["digest"]):
                    raise SignatureInvalid(
                        f"ciphertext {stream}[{len(items)}] does not match its signed digest: it was altered"
                    )
                items.append(blob)
            blobs[stream] = items
        if pos != len(data):
            raise MPCError("ciphertext bundle has trailing bytes")
        return cls(envelope, blobs)
