"""Routing policies and the circuit breaker's transitions, on an injected clock (no sleeps)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from govfabric.sharing_modes.routing.balance import CLOSED, HALF_OPEN, OPEN, Breaker, Rotation, order


@dataclass
class P:
    id: str
    weight: int = 1
    region: str | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_rotates_and_keeps_the_rest_for_failover() -> None:
    ps, rot = [P("a"), P("b"), P("c")], Rotation()
    got = [order("round-robin", ps, rot) for _ in range(4)]
    assert [[p.id for p in o] for o in got] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_weighted_chooses_in_proportion_interleaved() -> None:
    ps, rot = [P("a", 5), P("b", 1), P("c", 2)], Rotation()
    firsts = [order("weighted", ps, rot)[0].id for _ in range(80)]
    assert Counter(firsts) == {"a": 50, "b": 10, "c": 20}
    assert "".join(firsts[:8]).count("a") == 5 and "aaaaa" not in "".join(firsts[:8])  # smooth, not bursts
    assert [p.id for p in order("weighted", ps, rot)][1:] in (["a", "c"], ["c", "b"], ["a", "b"])
    assert Counter(order("weighted", [P("a", 0), P("b", 3)], Rotation())[0].id for _ in range(3)) == {"b": 3}


def test_region_prefers_the_callers_region_then_the_others() -> None:
    ps, rot = [P("bj1", region="beijing"), P("sh", region="shanghai"), P("bj2", region="beijing")], Rotation()
    seen = [[p.id for p in order("region", ps, rot, "beijing")] for _ in range(2)]
    assert seen[0][:2] == ["bj1", "bj2"] and seen[1][:2] == ["bj2", "bj1"] and seen[0][2] == "sh"
    assert {p.id for p in order("region", ps, rot, "guangzhou")[:1]} <= {"bj1", "sh", "bj2"}  # nobody near: all
    assert len(order("region", ps, rot, None)) == 3


def test_breaker_opens_after_n_failures_within_the_window_only() -> None:
    clock = Clock()
    b = Breaker(failures=3, window_s=10, cooldown_s=5, clock=clock)
    b.failure()
    clock.now += 11  # the first failure leaves the window
    b.failure()
    b.failure()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == OPEN and not b.allow()


def test_breaker_half_open_probe_closes_on_success_reopens_on_failure() -> None:
    clock = Clock()
    b = Breaker(failures=2, window_s=10, cooldown_s=5, clock=clock)
    b.failure()
    b.failure()
    assert b.state == OPEN
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow() and b.state == HALF_OPEN  # one probe passes ...
    assert not b.allow()  # ... and only one
    b.failure()
    assert b.state == OPEN and not b.allow()  # the cool-down starts again
    clock.now += 5
    assert b.allow()
    b.success()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == CLOSED  # the failures before opening were forgotten


def test_a_probe_that_never_reports_back_does_not_wedge_the_breaker_half_open() -> None:
    clock = Clock()
    b = Breaker(failures=1, window_s=10, cooldown_s=5, clock=clock)
    b.failure()
    clock.now += 5
    assert b.allow() and b.state == HALF_OPEN  # the probe's caller vanished without success/failure
    clock.now += 4
    assert not b.allow()
    clock.now += 1
    assert b.allow()  # another probe after a cool-down
    b.success()
    assert b.state == CLOSED
