"""The gateway's per-process routing state: a circuit breaker per provider and the policies that
order a service's providers for one call.

The breaker is a small class rather than ``pybreaker``/``purgatory``: it must open on N failures
*within a window* (pybreaker counts consecutive failures), take an injected clock (tests drive its
transitions without sleeping; pybreaker reads the wall clock), let exactly one half-open probe through
whether it comes from a call or from the active health check, and it is ~40 lines. State lives in
the server process (each gateway process keeps its own breakers and round-robin counters)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
POLICIES = ("round-robin", "weighted", "region")


class Breaker:
    """closed → open after ``failures`` failures within ``window_s`` → one half-open probe after
    ``cooldown_s`` → closed on its success, open again on its failure."""

    def __init__(self, failures: int = 3, window_s: float = 30.0, cooldown_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.window_s, self.cooldown_s, self.clock = failures, window_s, cooldown_s, clock
        self.state = CLOSED
        self.opened_at = 0.0
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def configure(self, failures: int, window_s: float, cooldown_s: float) -> None:
        self.failures, self.window_s, self.cooldown_s = failures, window_s, cooldown_s

    def allow(self) -> bool:
        """May a request go to this provider now? An open breaker past its cool-down lets one probe
        through (and becomes half-open); while that probe runs nothing else passes (for a cool-down)."""
        with self._lock:
            if self.state == CLOSED:
                return True
            now = self.clock()
            if now - self.opened_at >= self.cooldown_s:  # open past its cool-down, or a probe that never
                self.state, self.opened_at = HALF_OPEN, now  # reported back: (another) probe
                return True
            return False

    def success(self) -> None:
        with self._lock:
            if self.state != CLOSED:
                self.state = CLOSED
                self._recent.clear()

    def failure(self) -> None:
        with self._lock:
            now = self.clock()
            if self.state == HALF_OPEN:
                self.state, self.opened_at = OPEN, now
                return
            if self.state == OPEN:
                return
            self._recent.append(now)
            while self._recent and now - self._recent[0] > self.window_s:
                self._recent.popleft()
            if len(self._recent) >= self.failures:
                self.state, self.opened_at = OPEN, now
                self._recent.clear()


class Candidate(Protocol):
    id: str
    weight: int
    region: str | None


C = TypeVar("C", bound=Candidate)


@dataclass
class Rotation:
    """Per-service counters of the round-robin and smooth weighted (nginx) policies."""

    turn: int = 0
    current: dict[str, int] | None = None


def order(policy: str, providers: Sequence[C], rotation: Rotation, region: str | None = None) -> list[C]:
    """The providers in the order one call tries them: the policy's choice first, the rest as
    fail-over. ``region``: the caller's region (policy ``region``: its providers first, round-robin
    among them, then the others round-robin)."""
    if not providers:
        return []
    if policy == "weighted":
        return _weighted(providers, rotation)
    if policy == "region" and region is not None:
        near = [p for p in providers if p.region == region]
        far = [p for p in providers if p.region != region]
        turn = rotation.turn
        rotation.turn += 1
        return _rotate(near, turn) + _rotate(far, turn)
    turn = rotation.turn
    rotation.turn += 1
    return _rotate(list(providers), turn)


def _rotate(items: list[C], turn: int) -> list[C]:
    if not items:
        return []
    k = turn % len(items)
    return items[k:] + items[:k]


def _weighted(providers: Sequence[C], rotation: Rotation) -> list[C]:
    """Smooth weighted round-robin: over sum(weights) calls each provider is chosen weight times,
    interleaved; the others follow by weight for fail-over."""
    current = rotation.current if rotation.current is not None else {}
    rotation.current = current
    total = 0
    for p in providers:
        w = max(p.weight, 0)
        current[p.id] = current.get(p.id, 0) + w
        total += w
    for gone in set(current) - {p.id for p in providers}:
        del current[gone]
    chosen = max(providers, key=lambda p: current[p.id])
    current[chosen.id] -= total
    rest = sorted((p for p in providers if p is not chosen), key=lambda p: -p.weight)
    return [chosen, *rest]
