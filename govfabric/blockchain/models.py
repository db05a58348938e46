"""Tables of the blockchain module (prefix ``chain_``).

What is local and what is on chain: the chain holds Merkle roots, metadata
digests, salted keys and department addresses; these tables hold what is needed
to rebuild proofs and explain them (item ids, per-leaf salts, the tree) plus an
index of the events our own transactions emitted, always re-checked on chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from govfabric.store.base import Base, id_column, utcnow


class ChainNetwork(Base):
    """The chain a node URL answered for the first time; a later mismatch is refused."""

    __tablename__ = "chain_networks"
    url: Mapped[str] = mapped_column(String(500), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    genesis_hash: Mapped[str] = mapped_column(String(66))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class ChainDeployment(Base):
    """Where each contract lives on a given chain."""

    __tablename__ = "chain_deployments"
    __table_args__ = (UniqueConstraint("chain_key", "name"),)
    id: Mapped[str] = id_column()
    chain_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    runtime_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainJournalEntry(Base):
    """One signed raw transaction mined by the embedded chain, replayed in order on start."""

    __tablename__ = "chain_journal"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_timestamp: Mapped[int] = mapped_column(BigInteger)
    state_root: Mapped[str] = mapped_column(String(66))
    receipts_root: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainDepartment(Base):
    """A department account of the consortium (its key is a file in the workspace)."""

    __tablename__ = "chain_departments"
    __table_args__ = (UniqueConstraint("chain_key", "name"),)
    id: Mapped[str] = id_column()
    chain_key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(42))
    key_name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainAnchor(Base):
    """One mined batch: its Merkle root is on chain."""

    __tablename__ = "chain_anchors"
    __table_args__ = (UniqueConstraint("chain_key", "root"),)
    id: Mapped[str] = id_column()
    chain_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    root: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict] = mapped_column()
    metadata_digest: Mapped[str] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    submitter: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[datetime] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainAnchorTree(Base):
    """The anchor's Merkle tree in chunks of nodes: a proof reads a handful of rows, not the whole tree."""

    __tablename__ = "chain_anchor_trees"
    anchor_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    nodes: Mapped[bytes] = mapped_column(LargeBinary)


class ChainAnchorItem(Base):
    """One record of a batch: enough to rebuild its leaf and read its proof from the tree."""

    __tablename__ = "chain_anchor_items"
    __table_args__ = (
        UniqueConstraint("anchor_id", "leaf_index"),
        Index("ix_chain_anchor_items_kind_item", "kind", "item_id"),
    )
    id: Mapped[str] = id_column()
    anchor_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(128))
    salt: Mapped[str] = mapped_column(String(64))
    leaf_index: Mapped[int] = mapped_column(BigInteger)


class ChainEventRecord(Base):
    """Index of events our transactions emitted (eth-tester's log scan is slow); re-read on chain."""

    __tablename__ = "chain_events"
    __table_args__ = (UniqueConstraint("chain_key", "tx_hash", "log_index"),)
    id: Mapped[str] = id_column()
    chain_key: Mapped[str] = mapped_column(String(100))
    contract: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    asset_key: Mapped[str | None] = mapped_column(String(64), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(200))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[datetime] = mapped_column()
    args: Mapped[dict] = mapped_column()
    labels: Mapped[dict] = mapped_column(default=dict)
