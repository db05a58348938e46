"""The hash-chained audit log detects edited, deleted and truncated events."""

from __future__ import annotations

import threading

from sqlalchemy import text


def _events(f, n: int = 5) -> None:
    for i in range(n):
        f.audit.append("test.event", f"thing:{i}", {"i": i, "名字": "刘䶮"})


def test_intact_chain_verifies(workspace) -> None:
    _events(workspace)
    report = workspace.audit.verify()
    assert report.ok, report.problems
    assert report.events == report.head_seq >= 5


def test_edited_event_is_detected(workspace) -> None:
    _events(workspace)
    with workspace.store.engine.begin() as conn:
        conn.execute(text("UPDATE auth_audit_events SET actor = 'mallory' WHERE seq = 4"))
    report = workspace.audit.verify()
    assert not report.ok
    assert any("event 4" in p and "edited" in p for p in report.problems)


def test_deleted_event_is_detected(workspace) -> None:
    _events(workspace)
    with workspace.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM auth_audit_events WHERE seq = 3"))
    report = workspace.audit.verify()
    assert not report.ok
    assert any("missing" in p for p in report.problems)


def test_truncated_tail_is_detected(workspace) -> None:
    _events(workspace)
    last = workspace.audit.head()[0]
    with workspace.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM auth_audit_events WHERE seq = :s"), {"s": last})
    report = workspace.audit.verify()
    assert not report.ok
    assert any("tail" in p for p in report.problems)


def test_rehashed_forgery_breaks_the_link(workspace) -> None:
    """Rewriting an event *and* its hash still breaks the next event's link."""
    from govfabric.auth.audit import event_hash

    _events(workspace)
    ev = workspace.audit.events(since_seq=2, limit=1)[0]
    forged = event_hash(ev.seq, ev.at, "mallory", ev.action, ev.target, ev.details, ev.prev_hash)
    with workspace.store.engine.begin() as conn:
        conn.execute(text("UPDATE auth_audit_events SET actor='mallory', hash=:h WHERE seq=:s"),
                     {"h": forged, "s": ev.seq})
    report = workspace.audit.verify()
    assert any(f"event {ev.seq + 1}: previous-hash link broken" in p for p in report.problems)


def test_concurrent_appends_keep_one_chain(workspace) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(10):
                workspace.audit.append("test.concurrent", f"w{k}", {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = workspace.audit.verify()
    assert report.ok, report.problems
    assert len(workspace.audit.events(action="test.concurrent")) == 40
