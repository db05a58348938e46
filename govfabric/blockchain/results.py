"""What the chain service returns: plain values the CLI prints and the API serialises."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _plain(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


@dataclass(frozen=True)
class AnchorReceipt:
    anchor_id: str
    kind: str
    root: str
    algorithm: str
    item_count: int
    metadata_digest: str
    tx_hash: str
    block_number: int
    block_time: datetime
    chain: str
    contract: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class VerificationResult:
    """``ok`` only if the digest, the proof and the on-chain root all agree; ``problems`` says what not."""

    ok: bool
    kind: str
    item_id: str
    digest: str
    anchor_id: str | None = None
    root: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    block_time: datetime | None = None
    chain: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"{self.kind} {self.item_id}: verified — digest {self.digest[:16]}… is in the batch anchored "
                f"in block {self.block_number} at {self.block_time.isoformat() if self.block_time else '?'} "
                f"(root {self.root}, tx {self.tx_hash})"
            )
        return f"{self.kind} {self.item_id}: NOT verified — " + "; ".join(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return _plain({**asdict(self), "message": self.message})


@dataclass(frozen=True)
class ShareReceipt:
    tx_hash: str
    block_number: int
    block_time: datetime
    record: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class HistoryEvent:
    """One sharing or grant event of an asset, as the chain's logs say (labels are local names)."""

    event: str
    block_number: int
    block_time: datetime
    tx_hash: str
    args: dict[str, Any]
    labels: dict[str, Any]
    verified_on_chain: bool

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class Department:
    name: str
    address: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
