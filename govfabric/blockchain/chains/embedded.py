"""The embedded chain: an in-process EVM (eth-tester + py-evm) that survives restarts.

eth-tester keeps state in memory only. We persist it by journaling every signed raw
transaction the chain mines (with its block number, timestamp, state root and
receipts root) in the metadata store, and replaying the journal into a fresh EVM
on start. Why a journal rather than dumping py-evm's database: the signed
transactions are the chain's real input, small, append-only and backend-neutral
(SQLite or PostgreSQL, backed up with the store); replay re-executes every
contract check, and comparing each block's state and receipts roots with the
recorded ones proves the rebuilt chain is the one that was anchored on — a
tampered or missing entry stops the start with an ``IntegrityError``. The genesis
is fixed (timestamp, accounts) and each block's timestamp is replayed, so the
same transactions give the same roots. The cost is replay time at start (see
``benchmarks/chain_anchor.py``); a workspace that outgrows it moves to a JSON-RPC
node. The journal's primary key is the sequence number, so two processes on one
workspace cannot both append the same position: the loser rolls its EVM back,
replays the winner's entries and re-signs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from govfabric.blockchain.chains.base import DeploymentBook
from govfabric.blockchain.chains.evm import EvmChain, RetrySend
from govfabric.blockchain.signers import Secp256k1Signer, Signer
from govfabric.errors import IntegrityError

GENESIS_TIMESTAMP = 1_600_000_000
FAUCET_KEY = (1).to_bytes(32, "big")  # eth-tester's first genesis account


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    tx_hash: str
    raw_tx: str
    block_number: int
    block_timestamp: int
    state_root: str
    receipts_root: str


class Journal(Protocol):
    def entries_after(self, seq: int) -> list[JournalEntry]: ...

    def append(self, entry: JournalEntry) -> bool:
        """Store the entry; False if its sequence number is already taken."""


def load_libraries() -> tuple[Any, Any, Any, Any]:
    """Import eth-tester, py-evm and web3 (≈ 0.4 s of CPU) without what the embedded chain never uses:
    web3's aiohttp (≈ 0.2 s, its async HTTP providers and CCIP lookups) and the BLS12-381 code that
    eth-keyfile (BLS keystores) and py-evm's Prague precompiles import (≈ 0.28 s, pairings computed
    at import); a BLS precompile imports it on its first call. eth-keyfile reads one constant of the
    curve at import (``curve_order``): it comes from its own module, not the package's pairing."""
    from govfabric.deferred import deferred_names, without_init

    without_init("py_ecc.bls12_381", {"curve_order": "bls12_381_curve"})
    with deferred_names("aiohttp", "py_ecc.bls", "eth.precompiles.bls12_381"):
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import Web3
        from web3.providers.eth_tester import EthereumTesterProvider
    return EthereumTester, PyEVMBackend, Web3, EthereumTesterProvider


class EmbeddedChain(EvmChain):
    KEEPS_OWN_STATE: ClassVar[bool] = False
    FAST_LOG_QUERIES: ClassVar[bool] = False
    FIXED_GAS: ClassVar[int | None] = 3_000_000

    def __init__(self, book: DeploymentBook, journal: Journal) -> None:
        EthereumTester, PyEVMBackend, Web3, EthereumTesterProvider = load_libraries()
        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP})
        self._tester = EthereumTester(PyEVMBackend(genesis_parameters=params))
        super().__init__(Web3(EthereumTesterProvider(self._tester)), book)
        self._journal = journal
        self._seq = 0
        self._lock = threading.RLock()
        self.replayed = self.catch_up()

    @property
    def chain_key(self) -> str:
        return "embedded"

    @property
    def description(self) -> str:
        return "the embedded EVM (journal in the metadata store)"

    @property
    def faucet(self) -> Signer:
        return Secp256k1Signer(FAUCET_KEY)

    @property
    def height(self) -> int:
        return int(self._tester.get_block_by_number("latest")["number"])

    # --- persistence ----------------------------------------------------------------
    def _set_next_timestamp(self, ts: int) -> None:
        chain = self._tester.backend.chain
        chain.header = chain.header.copy(timestamp=ts)

    def _mined(self) -> dict[str, Any]:
        return self._tester.get_block_by_number("latest")

    def catch_up(self) -> int:
        """Replay journal entries not yet applied; return how many were."""
        with self._lock:
            entries = self._journal.entries_after(self._seq)
            for e in entries:
                if e.seq != self._seq + 1:
                    raise IntegrityError(
                        f"embedded chain journal jumps from entry {self._seq} to {e.seq}: entries are "
                        "missing; restore the store from backup"
                    )
                self._set_next_timestamp(e.block_timestamp)
                try:
                    tx_hash = self._tester.send_raw_transaction("0x" + e.raw_tx)
                except Exception as exc:
                    raise IntegrityError(
                        f"embedded chain journal entry {e.seq} (tx {e.tx_hash}) no longer executes: {exc}; "
                        "the journal was altered — restore the store from backup"
                    ) from exc
                block = self._mined()
                got = (tx_hash, int(block["number"]), str(block["state_root"]), str(block["receipts_root"]))
                want = (e.tx_hash, e.block_number, e.state_root, e.receipts_root)
                if got != want:
                    what = [
                        n
                        for n, a, b in zip(("tx hash", "block", "state root", "receipts root"), got, want, strict=True)
                        if a != b
                    ]
                    raise IntegrityError(
                        f"embedded chain journal entry {e.seq} replays to a different {', '.join(what)} "
                        f"(recorded {want}, replayed {got}); the journal was altered — "
                        "restore the store from backup"
                    )
                self._seq = e.seq
            return len(entries)

    def _sync(self) -> None:
        self.catch_up()

    def _send_raw(self, raw: bytes) -> str:
        from eth_tester.exceptions import TransactionFailed, ValidationError

        with self._lock:
            if self.catch_up():
                raise RetrySend  # another process wrote: our nonce may be stale
            snapshot = self._tester.take_snapshot()
            parent_ts = int(self._mined()["timestamp"])
            ts = max(int(time.time()), parent_ts + 1)
            self._set_next_timestamp(ts)
            try:
                tx_hash = self._tester.send_raw_transaction("0x" + raw.hex())
            except TransactionFailed:
                self._tester.revert_to_snapshot(snapshot)
                raise
            except ValidationError as exc:
                self._tester.revert_to_snapshot(snapshot)
                from govfabric.errors import ChainError

                raise ChainError(f"the embedded chain refused the transaction: {exc}") from exc
            block = self._mined()
            entry = JournalEntry(
                seq=self._seq + 1,
                tx_hash=tx_hash,
                raw_tx=raw.hex(),
                block_number=int(block["number"]),
                block_timestamp=int(block["timestamp"]),
                state_root=str(block["state_root"]),
                receipts_root=str(block["receipts_root"]),
            )
            try:
                stored = self._journal.append(entry)
            except BaseException:
                self._tester.revert_to_snapshot(snapshot)
                raise
            if not stored:
                self._tester.revert_to_snapshot(snapshot)
                raise RetrySend
            self._seq = entry.seq
            return tx_hash
