"""Rate limits and daily quotas per caller and per service (route), with the ``limits`` library's
moving window: in memory per process by default, shared in Redis when ``redis_url`` is set. A
refused call is a 429 with ``Retry-After``."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from govfabric.config import Settings
from govfabric.errors import ConfigError, RateLimited


def _item(text: str | None, what: str) -> RateLimitItem | None:
    if not text:
        return None
    try:
        return _parsed(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a rate like 100/second or 100000/day") from None


@lru_cache(maxsize=256)
def _parsed(text: str) -> RateLimitItem:
    """An app's own rate, parsed once (each call checks it: ~6 µs a parse, three per call)."""
    return parse(text)


class SweptMemoryStorage(MemoryStorage):
    """``limits``' memory storage with its expired entries swept on a caller's thread, at most once
    per :attr:`SWEEP_S`. The stock one starts a ``threading.Timer`` thread (10 ms) on a hit whenever
    the last one has ended: on a server answering a call every few milliseconds that is a thread
    created per call or two (~0.25–0.4 ms of CPU each, more than the rest of the limiter). Counting
    is unchanged (a moving window reads its entries' times; the sweep only frees memory)."""

    SWEEP_S = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the stock (name-mangled) scheduler
        now = time.monotonic()
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + self.SWEEP_S
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweeping.release()


def _storage(redis_url: str | None) -> Storage:
    return cast(Storage, storage_from_string(redis_url)) if redis_url else SweptMemoryStorage()


@dataclass
class Limits:
    """The limiter of one server process (the storage decides whether workers share counts)."""

    limiter: MovingWindowRateLimiter
    per_caller: RateLimitItem | None
    per_service: RateLimitItem | None
    daily: RateLimitItem | None
    #: the workspace's prefix: workspaces sharing one Redis never share counts
    namespace: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        storage = _storage(settings.redis_url)
        namespace = hashlib.sha256(str(settings.home).encode()).hexdigest()[:12]
        return cls(MovingWindowRateLimiter(storage), _item(settings.rate_limit, "rate_limit"),
                   _item(settings.service_rate_limit, "service_rate_limit"),
                   _item(settings.daily_quota, "daily_quota"), namespace)

    def check(self, caller: str, service: str, *, rate: str | None = None, quota: str | None = None) -> None:
        """Count one call of ``caller`` to ``service``; raise :class:`RateLimited` when over a limit.
        ``rate`` and ``quota`` are the caller's own (an app's), else the workspace's."""
        checks = [
            (_item(rate, "the app's rate limit") or self.per_caller, ("caller", caller, service),
             f"{caller} exceeded its rate limit on {service}"),
            (self.per_service, ("service", service), f"{service} is at its rate limit for all callers"),
            (_item(quota, "the app's daily quota") or self.daily, ("quota", caller),
             f"{caller} used up its daily quota"),
        ]
        for item, keys, message in checks:
            if item is not None and not self.limiter.hit(item, self.namespace, *keys):
                stats = self.limiter.get_window_stats(item, self.namespace, *keys)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(f"{message} ({item}); retry after {retry} s", retry_after_s=retry)

    def reachable(self) -> bool:
        return bool(self.limiter.storage.check())
