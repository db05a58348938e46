"""The tamper suite: an attacker with write access to the store (raw SQL) but not to the workspace
home (the key, the checkpoint) cannot truncate, re-hash or reorder the audit log unnoticed, on
SQLite and on the real PostgreSQL; normal use is never flagged; a damaged log refuses writes
with a clear error instead of a traceback or a fresh chain that hides the damage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from govfabric.auth.audit import CHECKPOINT_FILE, GENESIS, event_hash
from govfabric.cli.main import run
from govfabric.errors import IntegrityError

Attack = Callable[[object], None]


def _events(f, n: int = 8) -> None:
    for i in range(n):
        f.audit.append("test.event", f"thing:{i}", {"i": i, "名字": "刘䶮"})


def _sql(f, sql: str, **params: object) -> None:
    with f.store.engine.begin() as conn:
        conn.execute(text(sql), params)


def _rows(f) -> list[dict]:
    with f.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT seq, at, actor, action, target, details, prev_hash, hash FROM auth_audit_events ORDER BY seq"))]


def _rehash_from(f, start: int, key: bytes | None, edit: Callable[[dict], None] = lambda r: None) -> None:
    """Rewrite every event from ``start`` on (editing the first) with the algorithm the attacker
    knows (plain SHA-256, or HMAC with a guessed key), and move the head to match. Events are read
    through the ORM (the same values verify hashes), written with raw SQL."""
    rows = [{c: getattr(e, c) for c in ("seq", "at", "actor", "action", "target", "details", "hash")}
            for e in f.audit.segment(1, 10**9)]
    prev = next((r["hash"] for r in rows if r["seq"] == start - 1), GENESIS)
    for r in rows:
        if r["seq"] < start:
            continue
        if r["seq"] == start:
            edit(r)
        h = event_hash(r["seq"], r["at"], r["actor"], r["action"], r["target"], r["details"], prev, key)
        _sql(f, "UPDATE auth_audit_events SET actor=:a, prev_hash=:p, hash=:h WHERE seq=:s",
             a=r["actor"], p=prev, h=h, s=r["seq"])
        prev = h
    _sql(f, "UPDATE auth_audit_head SET hash=:h WHERE id=1", h=prev)


def test_the_forgery_is_right_but_for_the_key(workspace) -> None:
    """Control: the same re-hash with the real key leaves a chain that verifies link by link; only the
    signed checkpoint outside the store still tells the difference."""
    _events(workspace)
    key = workspace.secrets.derive("audit-chain")
    _rehash_from(workspace, 1, key)
    assert workspace.audit.verify().ok
    _rehash_from(workspace, 4, key, lambda r: r.update(actor="mallory"))
    problems = workspace.audit.verify().problems
    assert problems and all("checkpoint" in p for p in problems), problems


def tail_deleted_head_moved_back(f) -> None:
    rows = _rows(f)
    keep = rows[-4]
    _sql(f, "DELETE FROM auth_audit_events WHERE seq > :s", s=keep["seq"])
    _sql(f, "UPDATE auth_audit_head SET seq=:s, hash=:h WHERE id=1", s=keep["seq"], h=keep["hash"])


def last_event_deleted_head_moved_back(f) -> None:
    rows = _rows(f)
    _sql(f, "DELETE FROM auth_audit_events WHERE seq = :s", s=rows[-1]["seq"])
    _sql(f, "UPDATE auth_audit_head SET seq=:s, hash=:h WHERE id=1", s=rows[-2]["seq"], h=rows[-2]["hash"])


def head_row_deleted(f) -> None:
    _sql(f, "DELETE FROM auth_audit_head")


def every_event_deleted(f) -> None:
    _sql(f, "DELETE FROM auth_audit_events")
    _sql(f, "DELETE FROM auth_audit_head")


def every_event_deleted_head_reset(f) -> None:
    _sql(f, "DELETE FROM auth_audit_events")
    _sql(f, "UPDATE auth_audit_head SET seq=0, hash=:g WHERE id=1", g=GENESIS)


def edited_and_rehashed_plain(f) -> None:
    _rehash_from(f, 4, None, lambda r: r.update(actor="mallory"))


def edited_and_rehashed_guessed_key(f) -> None:
    _rehash_from(f, 4, b"", lambda r: r.update(actor="mallory"))


def edited_rehashed_marker_moved(f) -> None:
    """Claim the whole log predates the keyed chain, then re-hash it all with plain SHA-256."""
    _sql(f, "UPDATE auth_audit_head SET note=NULL WHERE id=1")
    _rehash_from(f, 1, None, lambda r: r.update(actor="mallory"))


def reordered(f) -> None:
    """Swap two events' places (their sequence numbers)."""
    rows = _rows(f)
    a, b = rows[3]["seq"], rows[4]["seq"]
    _sql(f, "UPDATE auth_audit_events SET seq=-1 WHERE seq=:a", a=a)
    _sql(f, "UPDATE auth_audit_events SET seq=:a WHERE seq=:b", a=a, b=b)
    _sql(f, "UPDATE auth_audit_events SET seq=:b WHERE seq=-1", b=b)


def reordered_and_rehashed(f) -> None:
    rows = _rows(f)
    a, b = rows[3]["seq"], rows[4]["seq"]
    _sql(f, "UPDATE auth_audit_events SET seq=-1 WHERE seq=:a", a=a)
    _sql(f, "UPDATE auth_audit_events SET seq=:a WHERE seq=:b", a=a, b=b)
    _sql(f, "UPDATE auth_audit_events SET seq=:b WHERE seq=-1", b=b)
    _rehash_from(f, a, None)


ATTACKS = [tail_deleted_head_moved_back, last_event_deleted_head_moved_back, head_row_deleted, every_event_deleted,
           every_event_deleted_head_reset, edited_and_rehashed_plain, edited_and_rehashed_guessed_key,
           edited_rehashed_marker_moved, reordered, reordered_and_rehashed]
#: attacks that leave the head row inconsistent with the checkpoint: the next write must refuse
BREAK_WRITES = {tail_deleted_head_moved_back, last_event_deleted_head_moved_back, head_row_deleted,
                every_event_deleted, every_event_deleted_head_reset, edited_rehashed_marker_moved}


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_attack_is_detected(workspace, attack: Attack) -> None:
    _events(workspace)
    assert workspace.audit.verify().ok
    attack(workspace)
    report = workspace.audit.verify()
    assert not report.ok, f"{attack.__name__} passed audit verify"
    if attack in BREAK_WRITES:
        with pytest.raises(IntegrityError, match=r"audit log is damaged.*govfabric audit verify"):
            workspace.audit.append("test.after", "x")
        assert not workspace.audit.verify().ok  # the refusal did not paper over it


def test_head_row_deleted_write_refuses_cleanly(workspace) -> None:
    """Before: every later write crashed with the driver's IntegrityError (head re-inserted, seq 1 taken)."""
    _events(workspace, 3)
    head_row_deleted(workspace)
    with pytest.raises(IntegrityError, match="head row is missing"):
        workspace.add_principal("late", ["analyst"])
    assert "late" not in {p.name for p in workspace.principals()}  # the write rolled back with it


def test_checkpoint_is_outside_the_store_and_private(workspace) -> None:
    _events(workspace, 3)
    cp = workspace.settings.home / CHECKPOINT_FILE
    assert cp.exists() and (cp.stat().st_mode & 0o777) == 0o600
    assert workspace.audit.verify().checkpoint_seq == workspace.audit.head()[0]
    cp.write_bytes(cp.read_bytes().replace(b'"seq": ', b'"seq": 1'))  # edited by hand: signature breaks
    report = workspace.audit.verify()
    assert not report.ok and any("signature" in p for p in report.problems)


def test_normal_use_is_never_flagged(workspace, analyst, steward) -> None:
    """Many appends from several Fabric objects and several processes, interleaved."""
    home = workspace.settings.home
    other = __import__("govfabric").connect(home, "steward1")
    code = ("import govfabric, sys\nf = govfabric.connect(sys.argv[1], sys.argv[2])\n"
            "for i in range(25):\n    f.audit.append('test.proc', sys.argv[2], {'i': i})\nf.close()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(home), user], env=env)
             for user in ("analyst1", "steward1")]
    for i in range(25):
        for f in (workspace, analyst, steward, other):
            f.audit.append("test.local", f.user, {"i": i})
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    other.close()
    report = workspace.audit.verify()
    assert report.ok, report.problems
    assert report.events == report.head_seq >= 150
    assert report.checkpoint_seq is not None and report.checkpoint_seq <= report.head_seq


def test_old_plain_chain_is_not_called_tampered(workspace) -> None:
    """A store written before the chain was keyed: verify accepts it, the next append keys the chain
    from there on, and the plain part is then protected by the first keyed event's link."""
    _events(workspace, 4)
    _rehash_from(workspace, 1, None)  # what an old govfabric wrote: plain SHA-256, no marker, no checkpoint
    _sql(workspace, "UPDATE auth_audit_head SET note=NULL WHERE id=1")
    (workspace.settings.home / CHECKPOINT_FILE).unlink()
    workspace.audit.store.info["govfabric.audit"]._cached = None
    old = workspace.audit.verify()
    assert old.ok and old.keyed_from is None, old.problems
    workspace.audit.append("test.upgrade", "x")
    new = workspace.audit.verify()
    assert new.ok and new.keyed_from == old.head_seq + 1, new.problems
    _rehash_from(workspace, 2, None, lambda r: r.update(actor="mallory"))  # rewrite the plain part and beyond
    assert not workspace.audit.verify().ok


def _gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str, user: str | None = None) -> tuple[int, str, str]:
    code = run(["--home", str(home)] + (["--as", user] if user else []) + list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_on_a_damaged_log(capsys: pytest.CaptureFixture[str], workspace) -> None:
    home = workspace.settings.home
    _events(workspace, 3)
    every_event_deleted(workspace)
    code, _, err = _gf(capsys, home, "audit", "verify")
    assert code != 0 and "FAILED" in err and "checkpoint" in err and "Traceback" not in err
    code, _, err = _gf(capsys, home, "principal", "add", "x1", "--role", "analyst")
    assert code != 0 and "audit log is damaged" in err and "govfabric audit verify" in err
    assert "Traceback" not in err


def test_cli_audit_list_shows_analysts_only_their_own(capsys: pytest.CaptureFixture[str], workspace, analyst) -> None:
    home = workspace.settings.home
    analyst.audit.append("test.mine", "thing:a")
    workspace.audit.append("test.admins", "thing:b", {"secret": "110105199001011234"})
    code, out, _ = _gf(capsys, home, "audit", "list", "--json", "--limit", "1000", user="analyst1")
    assert code == 0
    rows = json.loads(out)
    assert rows and {r["actor"] for r in rows} == {"analyst1"}
    assert "110105199001011234" not in out
    code, out, _ = _gf(capsys, home, "audit", "list", "--json", "--actor", "admin", user="analyst1")
    assert code == 0 and json.loads(out) == []
    workspace.add_principal("aud1", ["auditor"])
    code, out, _ = _gf(capsys, home, "audit", "list", "--json", "--limit", "1000", user="aud1")
    assert {"admin", "analyst1"} <= {r["actor"] for r in json.loads(out)}


def test_verify_checks_the_anchored_segment(capsys: pytest.CaptureFixture[str], workspace, monkeypatch) -> None:
    """Even with the audit key leaked, the anchored root on the chain still catches a rewrite."""
    monkeypatch.delenv("GOVFABRIC_CHAIN_URL", raising=False)
    home = workspace.settings.home
    _events(workspace, 3)
    assert _gf(capsys, home, "chain", "anchor", "audit")[0] == 0
    code, out, _ = _gf(capsys, home, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"], out
    end = max(e.seq for e in workspace.audit.events(action="test.event"))
    key = workspace.secrets.derive("audit-chain")
    _rehash_from(workspace, end - 1, key, lambda r: r.update(actor="mallory"))
    (home / CHECKPOINT_FILE).unlink()  # the attacker also has the home: only the chain is left
    code, _, err = _gf(capsys, home, "audit", "verify")
    assert code != 0 and f"anchored event {end}" in err and "digest differs" in err
