"""Store-backed records the chain adapters need: deployments, networks, the embedded journal."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from govfabric.blockchain.chains.base import Deployment
from govfabric.blockchain.chains.embedded import JournalEntry
from govfabric.blockchain.models import ChainDeployment, ChainJournalEntry, ChainNetwork
from govfabric.store import Store


class StoreDeploymentBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, chain_key: str) -> dict[str, Deployment]:
        with self.store.session() as s:
            rows = s.scalars(select(ChainDeployment).where(ChainDeployment.chain_key == chain_key)).all()
            return {r.name: Deployment(r.name, r.address, r.tx_hash, r.block_number, r.runtime_sha256) for r in rows}

    def save(self, chain_key: str, deployment: Deployment) -> None:
        with self.store.session() as s:
            s.add(
                ChainDeployment(
                    chain_key=chain_key,
                    name=deployment.name,
                    address=deployment.address,
                    tx_hash=deployment.tx_hash,
                    block_number=deployment.block_number,
                    runtime_sha256=deployment.runtime_sha256,
                )
            )


class StoreNetworkBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    def seen(self, url: str) -> tuple[int, str] | None:
        with self.store.session() as s:
            row = s.get(ChainNetwork, url)
            return (row.chain_id, row.genesis_hash) if row else None

    def remember(self, url: str, chain_id: int, genesis_hash: str) -> None:
        with self.store.session() as s:
            s.add(ChainNetwork(url=url, chain_id=chain_id, genesis_hash=genesis_hash))


class StoreJournal:
    """The embedded chain's journal; the sequence number is the primary key (one writer per slot)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def entries_after(self, seq: int) -> list[JournalEntry]:
        with self.store.session() as s:
            rows = s.scalars(
                select(ChainJournalEntry).where(ChainJournalEntry.seq > seq).order_by(ChainJournalEntry.seq)
            ).all()
            return [
                JournalEntry(
                    r.seq,
                    r.tx_hash,
                    r.raw_tx,
                    r.block_number,
                    r.block_timestamp,
                    r.state_root,
                    r.receipts_root,
                )
                for r in rows
            ]

    def append(self, entry: JournalEntry) -> bool:
        try:
            with self.store.session() as s:
                s.add(ChainJournalEntry(**entry.__dict__))
        except SAIntegrityError:
            return False
        return True

    def count(self) -> int:
        from sqlalchemy import func

        with self.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(ChainJournalEntry)) or 0)
