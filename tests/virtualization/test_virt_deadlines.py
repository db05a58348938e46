"""The one watchdog thread behind every statement's timeout (``engines/base.py``): a deadline
fires once it is due, never once cancelled, an earlier one added after a later one is not held up
by it, and cancelled deadlines do not pile up."""

from __future__ import annotations

import threading
import time

from govfabric.virtualization.engines.base import _WATCHDOG, run_with_timeout


def test_a_due_deadline_interrupts_and_a_cancelled_one_never_does() -> None:
    fired, cancelled = threading.Event(), threading.Event()
    late = run_with_timeout(cancelled.set, 0.2)
    late.cancel()
    run_with_timeout(fired.set, 0.05)
    assert fired.wait(5)
    time.sleep(0.4)
    assert not cancelled.is_set()


def test_an_earlier_deadline_is_not_held_up_by_a_later_one() -> None:
    far = run_with_timeout(lambda: None, 3600)
    fired = threading.Event()
    t0 = time.monotonic()
    run_with_timeout(fired.set, 0.05)
    assert fired.wait(5) and time.monotonic() - t0 < 2
    far.cancel()


def test_a_failing_interrupt_stops_nothing_else() -> None:
    def broken() -> None:
        raise RuntimeError("the cursor is closed")

    fired = threading.Event()
    run_with_timeout(broken, 0.01)
    run_with_timeout(fired.set, 0.05)
    assert fired.wait(5)


def test_cancelled_deadlines_do_not_pile_up() -> None:
    for _ in range(3 * _WATCHDOG.COMPACT_AT):
        run_with_timeout(lambda: None, 3600).cancel()
    assert len(_WATCHDOG._heap) <= _WATCHDOG.COMPACT_AT + 1
    fired = threading.Event()
    run_with_timeout(fired.set, 0.01)
    assert fired.wait(5)
