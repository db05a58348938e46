"""Private set intersection with openmined.psi (ECDH), split into hash buckets run on all cores.

Both sides hash every item with the task's public salt into ``buckets`` buckets; bucket *i*
of the client is only compared with bucket *i* of the server, so buckets run independently
in a process pool. Each side learns only the other side's bucket sizes. The client (second
provider) learns which of its own items are in the intersection; the server learns nothing
about the client's items. Results leave the client only encrypted for the requester.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

FPR = 1e-9


def _psi() -> Any:
    import private_set_intersection.python as psi

    return psi


def new_key() -> bytes:
    return bytes(_psi().client.CreateWithNewKey(True).GetPrivateKeyBytes())


def bucketize(items: Sequence[str], buckets: int, salt: str) -> list[list[int]]:
    """Row positions per bucket (keyed hash, so bucket sizes are all an observer sees)."""
    out: list[list[int]] = [[] for _ in range(buckets)]
    salt_b = salt.encode()
    for i, item in enumerate(items):
        h = hashlib.blake2b(item.encode(), key=salt_b[:64], digest_size=8).digest()
        out[int.from_bytes(h, "big") % buckets].append(i)
    return out


TASK_BUCKETS = 8  # fixed per task, so both sides agree without revealing their set sizes first
SMALL = 20_000  # below this many items a process pool costs more than it saves


def default_buckets(n: int) -> int:
    cores = os.cpu_count() or 1
    return max(1, min(4 * cores, n // 5_000 or 1))


def workers_for(n: int) -> int | None:
    return 1 if n < SMALL else None


def _client_request(key: bytes, items: list[str]) -> bytes:
    return _psi().client.CreateFromKey(key, True).CreateRequest(items).SerializeToString()


def _server_setup(key: bytes, items: list[str], n_client: int, fpr: float) -> bytes:
    psi = _psi()
    server = psi.server.CreateFromKey(key, True)
    return server.CreateSetupMessage(fpr, max(n_client, 1), items, psi.DataStructure.RAW).SerializeToString()


def _server_process(key: bytes, request: bytes) -> bytes:
    psi = _psi()
    req = psi.Request()
    req.ParseFromString(request)
    return psi.server.CreateFromKey(key, True).ProcessRequest(req).SerializeToString()


def _client_intersect(key: bytes, setup: bytes, response: bytes) -> list[int]:
    psi = _psi()
    s, r = psi.ServerSetup(), psi.Response()
    s.ParseFromString(setup)
    r.ParseFromString(response)
    return list(psi.client.CreateFromKey(key, True).GetIntersection(s, r))


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _shared_pool() -> ProcessPoolExecutor:
    """One worker per core for the life of the process (spawned once; safe beside server threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn"))
        return _POOL


def shutdown_pool() -> None:
    """Stop the worker processes (they are started again on the next bucketed call)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown()
            _POOL = None


def _pool_map(fn: Callable[..., Any], args: list[tuple[Any, ...]], workers: int | None) -> list[Any]:
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(args) <= 1:
        return [fn(*a) for a in args]
    return list(_shared_pool().map(fn, *zip(*args, strict=True)))


def b64(parts: list[bytes]) -> list[str]:
    return [base64.b64encode(p).decode() for p in parts]


def unb64(parts: list[str]) -> list[bytes]:
    return [base64.b64decode(p) for p in parts]


class PSIClient:
    """The side that learns matches (positions of its own items in the intersection)."""

    def __init__(
        self,
        items: Sequence[str],
        salt: str,
        buckets: int,
        key: bytes | None = None,
        workers: int | None = None,
    ) -> None:
        self.items, self.key, self.workers = [str(i) for i in items], key or new_key(), workers
        self.positions = bucketize(self.items, buckets, salt)

    def requests(self) -> list[bytes]:
        args = [(self.key, [self.items[i] for i in pos]) for pos in self.positions]
        return _pool_map(_client_request, args, self.workers)

    def hits(self, setups: list[bytes], responses: list[bytes]) -> np.ndarray:
        """Boolean per own item: is it also in the server's set."""
        args = list(zip([self.key] * len(setups), setups, responses, strict=True))
        found = _pool_map(_client_intersect, args, self.workers)
        mask = np.zeros(len(self.items), dtype=bool)
        for pos, idx in zip(self.positions, found, strict=True):
            mask[[pos[i] for i in idx]] = True
        return mask


class PSIServer:
    def __init__(
        self,
        items: Sequence[str],
        salt: str,
        buckets: int,
        key: bytes | None = None,
        workers: int | None = None,
    ) -> None:
        self.items, self.key, self.workers = [str(i) for i in items], key or new_key(), workers
        self.positions = bucketize(self.items, buckets, salt)

    def setups(self, client_sizes: list[int] | None = None) -> list[bytes]:
        """Blinded server items per bucket (RAW container: does not depend on the client's sizes,
        so it can run while the client prepares its request)."""
        fpr = FPR / max(len(self.positions), 1)
        sizes = client_sizes or [len(p) for p in self.positions]
        args = [(self.key, [self.items[i] for i in pos], n, fpr) for pos, n in zip(self.positions, sizes, strict=True)]
        return _pool_map(_server_setup, args, self.workers)

    def responses(self, requests: list[bytes]) -> list[bytes]:
        return _pool_map(_server_process, [(self.key, r) for r in requests], self.workers)


def raw_psi(server_items: Sequence[str], client_items: Sequence[str]) -> int:
    """openmined.psi called directly, single-threaded (the benchmark anchor)."""
    psi = _psi()
    client, server = psi.client.CreateWithNewKey(False), psi.server.CreateWithNewKey(False)
    setup = server.CreateSetupMessage(FPR, len(client_items), list(server_items), psi.DataStructure.RAW)
    response = server.ProcessRequest(client.CreateRequest(list(client_items)))
    return int(client.GetIntersectionSize(setup, response))
