"""The audit chain across the switch to RFC 8785: a chain written with the old sorted-keys form still
verifies, new events are hashed over JCS from the head's ``jcs_from`` on, and tampering in either
part is detected."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from govfabric.auth.audit import CHECKPOINT_FILE, GENESIS, Checkpoint, binding_of

#: details whose old and JCS forms differ (number format and key order)
DETAILS = {"ratio": 1.0, "big": 1e16, "\ufb33": "dalet", "\U0001f600": "grin", "名字": "刘䶮"}


def _old_hash(seq: int, at: datetime, actor: str, action: str, target: str, details: dict[str, Any],
              prev: str, key: bytes) -> str:
    """What govfabric wrote before RFC 8785: HMAC over Python's sorted-keys JSON."""
    body = json.dumps({"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
                       "target": target, "details": details, "prev": prev},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _jcs_hash(ev: Any, key: bytes) -> str:
    import rfc8785

    body = rfc8785.dumps({"seq": ev.seq, "at": ev.at.isoformat(timespec="microseconds"), "actor": ev.actor,
                          "action": ev.action, "target": ev.target, "details": ev.details, "prev": ev.prev_hash})
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _sql(f: Any, sql: str, **params: object) -> None:
    with f.store.engine.begin() as conn:
        conn.execute(text(sql), params)


def _note(f: Any) -> dict[str, Any]:
    with f.store.engine.connect() as conn:
        return json.loads(conn.execute(text("SELECT note FROM auth_audit_head WHERE id=1")).scalar())


def _make_old(f: Any, n: int = 5) -> int:
    """Rewrite the workspace's chain as an old (keyed, pre-JCS) govfabric left it: old hashes, a head
    note without ``jcs_from``, a checkpoint at its end."""
    for i in range(n):
        f.audit.append("test.old", f"thing:{i}", {**DETAILS, "i": i})
    key = f.secrets.derive("audit-chain")
    prev = GENESIS
    for ev in f.audit.segment(1, 10**9):
        h = _old_hash(ev.seq, ev.at, ev.actor, ev.action, ev.target, ev.details, prev, key)
        _sql(f, "UPDATE auth_audit_events SET prev_hash=:p, hash=:h WHERE seq=:s", p=prev, h=h, s=ev.seq)
        prev, last = h, ev.seq
    _sql(f, "UPDATE auth_audit_head SET hash=:h, note=:n WHERE id=1", h=prev, n=json.dumps({"keyed_from": 1}))
    binding = binding_of(f.store)
    (f.settings.home / CHECKPOINT_FILE).unlink()
    binding._cached = None
    binding.advance(Checkpoint(last, prev, 1))
    return last


def test_a_fresh_chain_is_jcs_from_the_start(workspace) -> None:
    workspace.audit.append("test.new", "x", DETAILS)
    assert _note(workspace) == {"keyed_from": 1, "jcs_from": 1}
    key = workspace.secrets.derive("audit-chain")
    for ev in workspace.audit.segment(1, 10**9):
        assert ev.hash == _jcs_hash(ev, key)
    assert workspace.audit.verify().ok


def test_an_old_chain_still_verifies_and_continues_in_jcs(workspace) -> None:
    last = _make_old(workspace)
    old = workspace.audit.verify()
    assert old.ok, old.problems
    workspace.audit.append("test.new", "y", DETAILS)
    workspace.audit.append("test.new", "z", DETAILS)
    assert _note(workspace) == {"keyed_from": 1, "jcs_from": last + 1}
    report = workspace.audit.verify()
    assert report.ok and report.events == last + 2, report.problems
    key = workspace.secrets.derive("audit-chain")
    events = workspace.audit.segment(1, 10**9)
    assert all(ev.hash == _jcs_hash(ev, key) for ev in events if ev.seq > last)
    assert all(ev.hash != _jcs_hash(ev, key) for ev in events if ev.action == "test.old")  # forms differ
    assert all(workspace.audit.recompute(ev) == ev.hash for ev in events)  # what anchors check


def test_tampering_is_detected_in_both_parts(workspace) -> None:
    last = _make_old(workspace)
    workspace.audit.append("test.new", "y", DETAILS)
    workspace.audit.append("test.new", "z", DETAILS)
    _sql(workspace, "UPDATE auth_audit_events SET actor='mallory' WHERE seq IN (2, :s)", s=last + 2)
    problems = workspace.audit.verify().problems
    assert any(p.startswith("event 2: content does not match") for p in problems), problems
    assert any(p.startswith(f"event {last + 2}: content does not match") for p in problems), problems


def test_moving_the_jcs_marker_is_detected(workspace) -> None:
    """The marker is not in the checkpoint: moving it cannot make an edit pass, only events fail."""
    last = _make_old(workspace)
    workspace.audit.append("test.new", "y", DETAILS)
    _sql(workspace, "UPDATE auth_audit_head SET note=:n WHERE id=1", n=json.dumps({"keyed_from": 1, "jcs_from": 1}))
    assert not workspace.audit.verify().ok
    _sql(workspace, "UPDATE auth_audit_head SET note=:n WHERE id=1", n=json.dumps({"keyed_from": 1}))
    problems = workspace.audit.verify().problems
    assert any(p.startswith(f"event {last + 1}: content does not match") for p in problems), problems
