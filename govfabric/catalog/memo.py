"""Catalog reads kept while the store's change counter stands still.

The portal's listing (a page of open assets, their total, the facet counts over all of them) reads
tens of thousands of rows and changes only when an asset does. Every write to assets, columns or
sources moves the counter ``virt_generation.n`` in its transaction (database triggers, see
``govfabric/virtualization/cache.py``), so a value kept under one counter value is exactly what
the store holds while it stands: an asset that stops being open leaves the listing at the next
request, from any process. No caching where the counter is off (``cache.current`` is None: no
triggers, or inside a transaction of the store).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from govfabric.store.db import Store

T = TypeVar("T")
#: values kept per store (listing pages and counts: a few kB each)
MAX_KEPT = 256


class _Kept:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: int | None = None
        self.values: OrderedDict[Hashable, Any] = OrderedDict()


_kept: weakref.WeakKeyDictionary[Store, _Kept] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def kept(store: Store, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or what it returned under the change counter committed now. The counter is
    read before computing, so a value is never kept under a counter newer than what it saw."""
    from govfabric.virtualization import cache

    found = cache.current(store)
    if found is None:
        return compute()
    generation = found[1]
    with _kept_lock:
        memo = _kept.setdefault(store, _Kept())
    with memo.lock:
        if memo.generation != generation:
            memo.generation, memo.values = generation, OrderedDict()
        if key in memo.values:
            memo.values.move_to_end(key)
            return memo.values[key]
    value = compute()
    with memo.lock:
        if memo.generation == generation:
            memo.values[key] = value
            while len(memo.values) > MAX_KEPT:
                memo.values.popitem(last=False)
    return value


#: the clock of :func:`kept_for` (a test moves it)
_clock = time.monotonic


def kept_for(store: Store, key: Hashable, seconds: float, compute: Callable[[], T]) -> T:
    """:func:`kept`, and at most ``seconds`` old: for a value that also reads what the counter does
    not watch (the search log, written by every search). Recomputed when an asset changes or at the
    next request after its time bucket ends, whichever comes first."""
    return kept(store, (key, int(_clock() // seconds)), compute)
