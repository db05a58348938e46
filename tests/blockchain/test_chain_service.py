"""Anchoring, verification and tampering, sharing records and grants, on both chains."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from govfabric.blockchain.models import ChainAnchor, ChainAnchorItem, ChainEventRecord
from govfabric.blockchain.service import ChainService
from govfabric.errors import AlreadyExists, ChainError, NotFound, ValidationFailed


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


RECORDS = {f"enterprise-{i}": sha(f"row {i}") for i in range(25)}


def count(svc: ChainService, model: type) -> int:
    with svc.store.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_anchor_then_verify_reports_block_and_time(service: ChainService) -> None:
    receipt = service.anchor("asset", list(RECORDS.items()), {"source": "market"})
    assert receipt.item_count == 25
    onchain = service.chain.get_anchor(bytes.fromhex(receipt.root))
    assert onchain is not None and onchain.count == 25  # one transaction, one root
    for item_id in ("enterprise-0", "enterprise-13", "enterprise-24"):
        result = service.verify("asset", item_id, RECORDS[item_id])
        assert result.ok, result.problems
        assert (result.block_number, result.block_time) == (receipt.block_number, onchain.block_time)
        assert result.tx_hash == receipt.tx_hash
        assert f"block {receipt.block_number}" in result.message


def test_changed_byte_fails_with_what_differs(service: ChainService) -> None:
    service.anchor("asset", list(RECORDS.items()), {})
    result = service.verify("asset", "enterprise-3", sha("row 3 "))
    assert not result.ok
    assert "content digest differs" in result.problems[0]
    assert RECORDS["enterprise-3"] in result.problems[0]
    assert any("not the anchored root" in p for p in result.problems)
    with pytest.raises(NotFound, match="never anchored"):
        service.verify("asset", "enterprise-99", RECORDS["enterprise-3"])


def test_altered_local_records_are_caught(service: ChainService) -> None:
    receipt = service.anchor("asset", list(RECORDS.items()), {})
    with service.store.session() as s:  # someone edits the stored digest to match their changed data
        s.execute(update(ChainAnchorItem).where(ChainAnchorItem.item_id == "enterprise-5").values(digest=sha("forged")))
    result = service.verify("asset", "enterprise-5", sha("forged"))
    assert not result.ok
    assert "stored proof or salt was altered" in " ".join(result.problems)
    with service.store.session() as s:  # ...or swaps in a root of their own
        s.execute(update(ChainAnchor).where(ChainAnchor.id == receipt.anchor_id).values(root="ab" * 32))
    result = service.verify("asset", "enterprise-6", RECORDS["enterprise-6"])
    assert not result.ok
    assert any("is not on" in p for p in result.problems)


def test_duplicate_anchor_refused_and_nothing_recorded(service: ChainService) -> None:
    service.anchor("asset", list(RECORDS.items()), {})
    before = (count(service, ChainAnchor), count(service, ChainAnchorItem))
    with pytest.raises(AlreadyExists, match="already anchored with the same digest"):
        service.anchor("asset", [("enterprise-1", RECORDS["enterprise-1"])], {})
    service.anchor("asset", [("enterprise-1", sha("row 1 changed"))], {})  # a new version is fine
    assert count(service, ChainAnchor) == before[0] + 1
    assert service.verify("asset", "enterprise-1", sha("row 1 changed")).ok


def test_bad_batches_refused(service: ChainService) -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        service.anchor("asset", [], {})
    with pytest.raises(ValidationFailed, match="same item twice"):
        service.anchor("asset", [("a", sha("1")), ("a", sha("2"))], {})
    with pytest.raises(ValidationFailed, match="not a hex digest"):
        service.anchor("asset", [("a", "not hex")], {})
    with pytest.raises(ValidationFailed, match="kind"):
        service.anchor("Bad Kind!", [("a", sha("1"))], {})
    assert count(service, ChainAnchor) == 0


def test_reverted_transaction_records_nothing_locally(service: ChainService) -> None:
    dept = service.add_department("archive")
    service.chain.remove_member(service.operator, dept.address)  # the consortium admin acts elsewhere
    with pytest.raises(ChainError, match="not a consortium member"):
        service.anchor("asset", [("x", sha("x"))], {}, department="archive")
    assert count(service, ChainAnchor) == 0 and count(service, ChainAnchorItem) == 0
    with pytest.raises(ChainError, match="not a consortium member"):
        service.record_grant("g", "asset.x", "archive", "someone")
    assert count(service, ChainEventRecord) == 0


def test_proof_bundle_checks_against_chain(service: ChainService) -> None:
    service.anchor("audit", [(str(i), sha(f"event {i}")) for i in range(1, 9)], {"start_seq": 1})
    other = service.anchor("audit", [(str(i), sha(f"event {i}")) for i in range(9, 12)], {"start_seq": 9})
    bundle = service.proof_bundle("audit", "4")
    assert service.verify_bundle(bundle, sha("event 4")).ok
    result = service.verify_bundle({**bundle, "root": other.root}, sha("event 4"))
    assert not result.ok and "another root" in result.problems[0]
    assert not service.verify_bundle(bundle, sha("event 5")).ok
    with pytest.raises(ValidationFailed, match="malformed"):
        service.verify_bundle({"kind": "audit"}, sha("event 4"))


def test_grants_and_shares_on_chain_and_history(service: ChainService) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    service.record_grant("grant-1", "market.enterprises", "market-regulation", "analyst.li", expires)
    assert service.is_granted("grant-1", "market.enterprises", "analyst.li")
    assert not service.is_granted("grant-1", "market.enterprises", "analyst.wang")
    share = service.record_share(sha("v1"), "market-regulation", "public-security", "grant-1", "market.enterprises")
    assert share.record is not None
    service.revoke_grant("grant-1", "market-regulation", asset_id="market.enterprises")
    assert not service.is_granted("grant-1", "market.enterprises", "analyst.li")
    history = service.history("market.enterprises")
    assert [e.event for e in history] == ["Granted", "ShareRecorded", "Revoked"]
    assert all(e.verified_on_chain for e in history)
    assert history[1].labels == {
        "provider": "market-regulation",
        "consumer": "public-security",
        "grant_id": "grant-1",
    }
    assert history[0].args["expires"] == int(expires.timestamp())
    assert service.history("another.asset") == []


def test_history_flags_an_invented_index_row(service: ChainService) -> None:
    if service.chain.FAST_LOG_QUERIES:
        pytest.skip("this chain answers history from its logs; the local index is not consulted")
    service.record_grant("g", "asset.a", "market", "someone")
    with service.store.session() as s:
        row = s.scalars(select(ChainEventRecord)).one()
        s.execute(update(ChainEventRecord).values(args={**row.args, "expires": 99}))
    [event] = service.history("asset.a")
    assert not event.verified_on_chain
