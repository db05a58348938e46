"""The contracts through the chain seam, the same suite on the embedded EVM and a JSON-RPC node."""

from __future__ import annotations

import os
import time

import pytest

from govfabric.blockchain.service import ChainService, asset_key, grant_key
from govfabric.errors import ChainError


def test_anchor_once_duplicate_refused(service: ChainService) -> None:
    chain, op = service.chain, service.operator
    root, md = os.urandom(32), os.urandom(32)
    tx = chain.anchor(op, root, md, "asset", 7)
    assert [e.name for e in tx.events] == ["Anchored"]
    on = chain.get_anchor(root)
    assert on is not None
    assert (on.metadata_digest, on.kind, on.count, on.block_number) == (md, "asset", 7, tx.block_number)
    assert on.submitter.lower() == op.address.lower()
    with pytest.raises(ChainError, match="duplicate anchor"):
        chain.anchor(op, root, os.urandom(32), "asset", 7)
    assert chain.get_anchor(os.urandom(32)) is None


def test_consortium_controls_who_writes(service: ChainService) -> None:
    chain = service.chain
    dept = service.add_department("market-regulation")
    assert chain.is_member(dept.address)
    signer = service.keys.signer(service._department_row("market-regulation").key_name)
    chain.anchor(signer, os.urandom(32), os.urandom(32), "audit", 1)
    with pytest.raises(ChainError, match="only the consortium admin"):
        chain.add_member(signer, "0x" + "11" * 20, "rogue")
    service.remove_department("market-regulation")
    assert not chain.is_member(dept.address)
    with pytest.raises(ChainError, match="not a consortium member"):
        chain.anchor(signer, os.urandom(32), os.urandom(32), "audit", 1)


def test_grants_owned_by_one_department(service: ChainService) -> None:
    chain = service.chain
    service.add_department("market")
    service.add_department("police")
    market = service.keys.signer(service._department_row("market").key_name)
    police = service.keys.signer(service._department_row("police").key_name)
    gid, akey, grantee = grant_key("g-1"), asset_key("enterprises"), os.urandom(32)
    tx = chain.grant(market, gid, akey, grantee, 0)
    assert tx.events[0].name == "Granted"
    assert chain.is_granted(gid, akey, grantee)
    assert not chain.is_granted(gid, akey, os.urandom(32))
    assert not chain.is_granted(gid, asset_key("other"), grantee)
    with pytest.raises(ChainError, match="only the department owning the asset"):
        chain.grant(police, grant_key("g-2"), akey, grantee, 0)
    with pytest.raises(ChainError, match="only the owning department revokes"):
        chain.revoke(police, gid)
    with pytest.raises(ChainError, match="already expired"):
        chain.grant(market, grant_key("g-3"), akey, grantee, 1)
    chain.revoke(market, gid)
    assert not chain.is_granted(gid, akey, grantee)
    with pytest.raises(ChainError, match="already revoked"):
        chain.revoke(market, gid)


@pytest.mark.slow
def test_grant_expires(service: ChainService) -> None:
    chain = service.chain
    service.add_department("market")
    market = service.keys.signer(service._department_row("market").key_name)
    gid, akey, grantee = grant_key("short"), asset_key("a"), os.urandom(32)
    w3 = chain._w3  # type: ignore[attr-defined]
    expires = max(int(time.time()), int(w3.eth.get_block("latest")["timestamp"])) + 2
    chain.grant(market, gid, akey, grantee, expires)
    assert chain.is_granted(gid, akey, grantee)
    for _ in range(20):  # move the chain's clock past the expiry with ordinary transactions
        chain.anchor(service.operator, os.urandom(32), os.urandom(32), "tick", 1)
        if int(w3.eth.get_block("latest")["timestamp"]) >= expires:
            break
        time.sleep(0.5)
    assert not chain.is_granted(gid, akey, grantee)


def test_events_read_back_from_logs_and_receipts(service: ChainService) -> None:
    chain = service.chain
    service.add_department("market")
    police = service.add_department("police")
    market = service.keys.signer(service._department_row("market").key_name)
    akey = asset_key("population")
    t1 = chain.grant(market, grant_key("g"), akey, os.urandom(32), 0)
    t2 = chain.record_share(market, akey, os.urandom(32), police.address, grant_key("g"))
    with pytest.raises(ChainError, match="consumer is not a consortium member"):
        chain.record_share(market, akey, os.urandom(32), "0x" + "22" * 20, grant_key("g"))
    events = chain.asset_events(akey)
    assert [(e.name, e.tx_hash) for e in events] == [("Granted", t1.tx_hash), ("ShareRecorded", t2.tx_hash)]
    assert chain.tx_events(t2.tx_hash) == t2.events
    assert events[1].args["consumer"].lower() == police.address.lower()
    assert chain.asset_events(asset_key("nothing")) == []
