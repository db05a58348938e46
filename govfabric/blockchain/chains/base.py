"""The seam every chain sits behind: the ledger operations govfabric needs.

The service speaks only this interface (anchor a root, read an anchor, manage the
consortium, record shares, grant and revoke, read events back). EVM chains share
one implementation (``evm.py``) and differ in transport and persistence; a chain
with a different programming model (Hyperledger Fabric chaincode, FISCO BCOS with
SM2) implements this class directly. Capabilities are class constants so callers
never branch on a chain's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from govfabric.blockchain.signers import Signer


@dataclass(frozen=True)
class ChainEvent:
    contract: str
    name: str
    args: dict[str, Any]
    tx_hash: str
    log_index: int
    block_number: int
    block_time: datetime


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    block_time: datetime
    events: list[ChainEvent] = field(default_factory=list)
    contract_address: str | None = None


@dataclass(frozen=True)
class OnChainAnchor:
    root: bytes
    metadata_digest: bytes
    kind: str
    count: int
    submitter: str
    block_number: int
    block_time: datetime


@dataclass(frozen=True)
class Deployment:
    name: str
    address: str
    tx_hash: str
    block_number: int
    runtime_sha256: str


class DeploymentBook(Protocol):
    """Where a chain adapter remembers contract addresses (the service backs it with the store)."""

    def load(self, chain_key: str) -> dict[str, Deployment]: ...

    def save(self, chain_key: str, deployment: Deployment) -> None: ...


class Chain(ABC):
    """One ledger govfabric writes to."""

    #: the node keeps its own state (False: govfabric must persist and restore it)
    KEEPS_OWN_STATE: ClassVar[bool] = True
    #: log queries by topic are cheap enough to answer ``history`` straight from the chain
    FAST_LOG_QUERIES: ClassVar[bool] = True
    #: the transaction signature scheme this chain accepts
    SIGNATURE_SCHEME: ClassVar[str] = "secp256k1"

    @property
    @abstractmethod
    def chain_id(self) -> int: ...

    @property
    @abstractmethod
    def chain_key(self) -> str:
        """Names this ledger in local records (anchors made on one chain verify only there)."""

    @property
    @abstractmethod
    def description(self) -> str: ...

    @abstractmethod
    def ensure_deployed(self, admin: Signer) -> dict[str, Deployment]: ...

    @abstractmethod
    def fund(self, funder: Signer, address: str) -> TxResult | None:
        """Give a new account enough to pay for its transactions (None if it needs nothing)."""

    @abstractmethod
    def can_pay(self, address: str) -> bool:
        """Whether the account can pay for transactions (always on a gas-free network)."""

    @abstractmethod
    def add_member(self, admin: Signer, address: str, name: str) -> TxResult: ...

    @abstractmethod
    def remove_member(self, admin: Signer, address: str) -> TxResult: ...

    @abstractmethod
    def is_member(self, address: str) -> bool: ...

    @abstractmethod
    def anchor(self, signer: Signer, root: bytes, metadata_digest: bytes, kind: str, count: int) -> TxResult: ...

    @abstractmethod
    def get_anchor(self, root: bytes) -> OnChainAnchor | None: ...

    @abstractmethod
    def record_share(
        self, signer: Signer, asset_key: bytes, version_digest: bytes, consumer: str, grant_id: bytes
    ) -> TxResult: ...

    @abstractmethod
    def grant(self, signer: Signer, grant_id: bytes, asset_key: bytes, grantee: bytes, expires: int) -> TxResult: ...

    @abstractmethod
    def revoke(self, signer: Signer, grant_id: bytes) -> TxResult: ...

    @abstractmethod
    def is_granted(self, grant_id: bytes, asset_key: bytes, grantee: bytes) -> bool: ...

    @abstractmethod
    def asset_events(self, asset_key: bytes) -> list[ChainEvent]:
        """Sharing and grant events of one asset, read from the chain's logs."""

    @abstractmethod
    def tx_events(self, tx_hash: str) -> list[ChainEvent]:
        """The events one mined transaction emitted (from its receipt on chain)."""

    @abstractmethod
    def transaction_inputs(self, from_block: int = 0) -> list[bytes]:
        """Input data of every transaction in blocks ``from_block``… (privacy checks)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
