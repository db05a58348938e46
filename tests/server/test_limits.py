"""The in-memory limiter: counts as ``limits``' moving window does, without a thread per call."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from govfabric.config import Settings
from govfabric.errors import RateLimited
from govfabric.server.limits import Limits, SweptMemoryStorage


def _limits(tmp_path: Path, **kw: Any) -> Limits:
    return Limits.from_settings(Settings(home=tmp_path, **kw))


def test_memory_limiter_starts_no_thread_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stock memory storage started a ``threading.Timer`` whenever the last (10 ms) had ended:
    a thread created per call on a server answering a call every few milliseconds."""
    limits = _limits(tmp_path, rate_limit="1000/second")
    started: list[Any] = []
    real_start = threading.Timer.start
    monkeypatch.setattr(threading.Timer, "start", lambda self: (started.append(self), real_start(self))[1])
    for _ in range(5):
        limits.check("app1", "api:svc")
        time.sleep(0.02)
    assert started == []


def test_memory_limiter_still_counts_and_sweeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = _limits(tmp_path, rate_limit="2/second")
    limits.check("app1", "api:svc")
    limits.check("app1", "api:svc")
    with pytest.raises(RateLimited):
        limits.check("app1", "api:svc")
    limits.check("app2", "api:svc")  # per caller
    storage = limits.limiter.storage
    assert isinstance(storage, SweptMemoryStorage)
    monkeypatch.setattr(SweptMemoryStorage, "SWEEP_S", 0.0)
    time.sleep(1.1)  # both windows over: the next call sweeps the expired entries
    limits.check("app1", "api:svc")
    assert sum(len(v) for v in storage.events.values()) == 1
