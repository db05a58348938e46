"""The embedded chain keeps its anchors across restarts, and refuses an altered journal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from chain_fixtures import MakeService  # type: ignore[import-not-found]
from sqlalchemy import select, update

from govfabric.blockchain.models import ChainJournalEntry
from govfabric.errors import IntegrityError


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("chain_kind", ["embedded"], indirect=True)
def test_anchors_grants_and_history_survive_a_restart(make_service: MakeService) -> None:
    first = make_service()
    receipt = first.anchor("asset", [("a", sha("a")), ("b", sha("b"))], {})
    first.record_grant("g", "asset.a", "market", "analyst")
    height = first.chain.height  # type: ignore[attr-defined]
    first.close()

    second = make_service()  # a new process: fresh in-memory EVM, same workspace
    assert second.chain.replayed == height  # type: ignore[attr-defined]
    result = second.verify("asset", "b", sha("b"))
    assert result.ok and result.block_number == receipt.block_number
    assert result.block_time == receipt.block_time
    assert second.is_granted("g", "asset.a", "analyst")
    assert [e.event for e in second.history("asset.a")] == ["Granted"]
    later = second.anchor("asset", [("c", sha("c"))], {})  # and it keeps going where it stopped
    assert later.block_number == height + 1


@pytest.mark.parametrize("chain_kind", ["embedded"], indirect=True)
def test_two_writers_on_one_workspace_interleave(make_service: MakeService) -> None:
    one, two = make_service(), make_service()
    one.ensure_ready()
    two.ensure_ready()  # replays one's deployment instead of deploying again
    one.anchor("asset", [("x", sha("x"))], {})
    two.anchor("asset", [("y", sha("y"))], {})  # stale nonce: catches up, re-signs
    one.anchor("asset", [("z", sha("z"))], {})
    assert one.verify("asset", "y", sha("y")).ok and two.verify("asset", "z", sha("z")).ok


@pytest.mark.parametrize("chain_kind", ["embedded"], indirect=True)
def test_altered_journal_stops_the_start(make_service: MakeService) -> None:
    first = make_service()
    first.anchor("asset", [("a", sha("a"))], {})
    with first.store.session() as s:
        last = s.scalars(select(ChainJournalEntry).order_by(ChainJournalEntry.seq.desc())).first()
        assert last is not None
        s.execute(update(ChainJournalEntry).where(ChainJournalEntry.seq == last.seq).values(state_root="0x" + "0" * 64))
    with pytest.raises(IntegrityError, match="replays to a different state root"):
        make_service().chain  # noqa: B018 - opening the chain replays the journal
    with first.store.session() as s:
        s.execute(update(ChainJournalEntry).where(ChainJournalEntry.seq == 2).values(raw_tx="00"))
    with pytest.raises(IntegrityError, match="entry 2"):
        make_service().chain  # noqa: B018


def test_journal_and_proofs_on_each_store(store_url: str, tmp_path: Path) -> None:
    """The same anchors, proofs and journal replay on SQLite and on PostgreSQL."""
    from types import SimpleNamespace

    from govfabric.blockchain.service import ChainService
    from govfabric.store import Store

    def open_service() -> ChainService:
        store = Store(store_url)
        store.migrate()
        return ChainService(store, SimpleNamespace(home=tmp_path, chain_url=None))

    first = open_service()
    items = [(f"r{i}", sha(str(i))) for i in range(3000)]  # three tree chunks at the leaf level
    first.anchor("asset", items, {})
    first.store.dispose()
    second = open_service()
    assert second.verify("asset", "r2999", sha("2999")).ok
    assert not second.verify("asset", "r1024", sha("1023")).ok
    second.store.dispose()
