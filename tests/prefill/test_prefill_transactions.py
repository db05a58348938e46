"""A prefill run checks the applicant's consent once (the licence library relies on that decision)
and records its guarded reads, the licence read and the call in one transaction (issue 13's
benchmark goal: fewer audited checks and commits per run, nothing less recorded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prefill_world import World, consent, item_doc
from sqlalchemy import event
from test_prefill_api import _import as import_licence

from govfabric.errors import AccessDenied
from govfabric.governance.security import consent as consent_module


@contextmanager
def transactions(w: World) -> Iterator[list[list[tuple[str, dict[str, Any]]]]]:
    """The store's committed transactions in the block: per transaction its audit events (action,
    details) and ``("query_log", {})`` for each query-log row, in order."""
    engine = w.service.store.engine
    done: list[list[tuple[str, dict[str, Any]]]] = []
    open_: list[tuple[str, dict[str, Any]]] = []

    def on_execute(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith("INSERT INTO AUTH_AUDIT_EVENTS"):
            rows = params if isinstance(params, list) else [params]
            for p in rows:
                p = p if isinstance(p, dict) else dict(zip(("seq", "at", "actor", "action", "target", "details"),
                                                             p, strict=False))
                details = p.get("details")
                got = json.loads(details) if isinstance(details, str) else dict(details or {})
                open_.append((p["action"], {**got, "__seq__": p["seq"]}))
        elif text.startswith("INSERT INTO VIRT_QUERY_LOG"):
            open_.append(("query_log", {}))

    def on_commit(_conn: Any) -> None:
        if open_:
            done.append(list(open_))
        open_.clear()

    def on_rollback(_conn: Any) -> None:
        open_.clear()

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    try:
        yield done
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "rollback", on_rollback)


@pytest.fixture
def licensed(world: World, tmp_path: Path) -> World:
    import_licence(world, tmp_path)
    world.steward.prefill.create(item_doc())
    consent(world)
    return world


def test_one_consent_check_per_run_and_the_licence_read_cites_it(licensed: World) -> None:
    w = licensed
    with transactions(w) as txs:
        got = w.service.prefill.run("open_business", w.uscc)
    assert [m["status"] for m in got["materials"] if m["name"] == "licence"] == ["attached"]
    events = [e for tx in txs for e in tx]
    checks = [d for a, d in events if a == "consent.check"]
    assert len(checks) == 1 and checks[0]["allowed"]  # the old code checked (and audited) again in the library
    [read] = [d for a, d in events if a == "licence.read"]
    assert read["consent_check"] == checks[0]["__seq__"]  # the check the read relied on
    assert any(a == "licence.verify" for a, _ in events)
    assert w.steward.as_user("admin").audit.verify().ok


def test_reads_licence_and_call_are_recorded_in_one_transaction(licensed: World) -> None:
    w = licensed
    with transactions(w) as txs:
        w.service.prefill.run("open_business", w.uscc)
    [final] = [tx for tx in txs if any(a == "prefill.run" for a, _ in tx)]
    actions = [a for a, _ in final]
    queries = sum(a == "sql.query" for tx in txs for a, _ in tx)
    assert queries >= 1 and actions.count("sql.query") == queries == actions.count("query_log")
    assert {"licence.read", "licence.verify", "prefill.run"} <= set(actions)
    assert len(txs) <= 3  # the consent check, the reads with the licence and the call (the old code: 7 or more)
    assert w.steward.as_user("admin").audit.verify().ok


def test_the_library_checks_afresh_unless_the_decision_covers_its_read(licensed: World) -> None:
    w = licensed
    lib, consents = w.service.licences, w.service.security.consent
    spec = w.service.prefill.spec("open_business")
    decision = consents.check(w.uscc, spec.purpose, spec.consent_scope(), spec.principal)
    scope = [s for s in spec.consent_scope() if s.startswith("licence:")]
    assert consents.covers(decision, w.uscc, spec.purpose, scope, spec.principal)
    forged = [replace(decision, scope=(*decision.scope, "licence:99")),  # altered after the check
              replace(decision, seal=None), consent_module.ConsentDecision(True, "made up", scope=tuple(scope))]
    for d in forged:
        assert not consents.covers(d, w.uscc, spec.purpose, scope, spec.principal)
    assert not consents.covers(decision, w.uscc, "another purpose", scope, spec.principal)
    assert not consents.covers(decision, w.uscc, spec.purpose, ["licence:99"], spec.principal)
    assert not consents.covers(decision, w.rep_id, spec.purpose, scope, spec.principal)
    old = consents.check(w.uscc, spec.purpose, ["field:ent_name"], spec.principal)  # no licence in its scope
    assert not consents.covers(old, w.uscc, spec.purpose, scope, spec.principal)
    # a decision that does not cover the read: the library checks itself, and refuses naming what is missing
    consents_given = w.steward.security.consent
    consents_given.withdraw(subject_id=w.uscc)
    with transactions(w) as txs, pytest.raises(AccessDenied, match="has not consented"):
        lib.for_holder(w.uscc, item="open_business", consent=old)
    assert [a for tx in txs for a, _ in tx].count("consent.check") == 1


def test_a_stale_decision_is_checked_afresh(licensed: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = licensed
    consents = w.service.security.consent
    spec = w.service.prefill.spec("open_business")
    decision = consents.check(w.uscc, spec.purpose, spec.consent_scope(), spec.principal)
    scope = [s for s in spec.consent_scope() if s.startswith("licence:")]
    monkeypatch.setattr(consent_module, "DECISION_TTL", consent_module.DECISION_TTL * 0)
    assert not consents.covers(decision, w.uscc, spec.purpose, scope, spec.principal)


def test_a_warm_run_does_not_read_the_acting_principal_at_its_start(licensed: World) -> None:
    """``fabric.actor`` read inside the run's transaction (the licence library) no longer drops the
    principal held for the store's generation: the next run does not read it again at its start."""
    w = licensed
    w.service.prefill.run("open_business", w.uscc)
    engine, reads = w.service.store.engine, []

    def on_execute(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM AUTH_PRINCIPALS" in statement.upper():
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        w.service.prefill.run("open_business", w.uscc)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    # one per licence call inside the run's transaction (for_holder, verify), none at its start: the old
    # code read it there again (3)
    assert len(reads) <= 2, reads
