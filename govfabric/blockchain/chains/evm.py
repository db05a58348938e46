"""The ledger on any EVM chain, through web3: the four Vyper contracts.

Subclasses supply the web3 provider and, when the node does not persist itself,
a hook around sending a raw transaction (the embedded chain journals it).
Every revert, whether eth-tester's ``TransactionFailed`` or a node's
``ContractLogicError``, leaves here as a ``ChainError`` naming the contract call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from govfabric.blockchain.artifacts import CONTRACT_NAMES, Artifact, load_artifact
from govfabric.blockchain.chains.base import (
    Chain,
    ChainEvent,
    Deployment,
    DeploymentBook,
    OnChainAnchor,
    TxResult,
)
from govfabric.blockchain.signers import Signer
from govfabric.errors import ChainError

ZERO32 = b"\x00" * 32
SHARE_EVENTS = ("ShareRecorded",)
GRANT_EVENTS = ("Granted", "Revoked")


class RetrySend(Exception):
    """The chain moved under us (another process wrote first): rebuild, re-sign, resend."""


def _revert_reason(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    text = str(msg)
    for prefix in ("execution reverted: ", "execution reverted:", "Reverted "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.strip() or "no reason given"


def _revert_errors() -> tuple[type[BaseException], ...]:
    from web3.exceptions import ContractLogicError

    errors: list[type[BaseException]] = [ContractLogicError]
    try:
        from eth_tester.exceptions import TransactionFailed

        errors.append(TransactionFailed)
    except ImportError:  # pragma: no cover - eth-tester is an optional part
        pass
    return tuple(errors)


def _ts(value: int) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


class EvmChain(Chain):
    """Shared web3 implementation; ``_w3`` is set by the subclass."""

    RECEIPT_TIMEOUT_S: ClassVar[float] = 60.0
    #: a fixed gas limit instead of estimating (py-evm's estimate re-runs the call a dozen times)
    FIXED_GAS: ClassVar[int | None] = None
    FUNDING_WEI: ClassVar[int] = 10**18

    def __init__(self, w3: Any, book: DeploymentBook) -> None:
        self._w3 = w3
        self._book = book
        self._contracts: dict[str, Any] = {}
        self._chain_id: int | None = None
        self._block_times: dict[int, datetime] = {}

    # --- identity -------------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self._w3.eth.chain_id, "read the chain id"))
        return self._chain_id

    @property
    def chain_key(self) -> str:
        return f"evm:{self.chain_id}"

    def _rpc(self, fn: Callable[[], Any], what: str) -> Any:
        """Run a node call; connection failures become a ChainError that says where."""
        try:
            return fn()
        except ChainError:
            raise
        except _revert_errors() as exc:
            raise ChainError(f"the chain refused to {what}: {_revert_reason(exc)}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainError(f"cannot reach the chain node ({self.description}) to {what}: {exc}") from exc
        except Exception as exc:
            name = type(exc).__name__
            if "Connection" in name or "Timeout" in name or "Timeout" in str(exc)[:60]:
                raise ChainError(f"cannot reach the chain node ({self.description}) to {what}: {exc}") from exc
            raise

    def _sync(self) -> None:
        """Bring local state up to date before a read (the embedded chain replays new journal entries)."""

    # --- contracts ------------------------------------------------------------------
    def _contract(self, name: str) -> Any:
        c = self._contracts.get(name)
        if c is None:
            deployments = self._book.load(self.chain_key)
            if name not in deployments:
                raise ChainError(f"contract {name} is not deployed on {self.description}; run `govfabric chain status`")
            c = self._bind(load_artifact(name), deployments[name].address)
        return c

    def _bind(self, art: Artifact, address: str) -> Any:
        c = self._w3.eth.contract(address=self._w3.to_checksum_address(address), abi=art.abi)
        self._contracts[art.name] = c
        return c

    def ensure_deployed(self, admin: Signer) -> dict[str, Deployment]:
        """Deploy missing contracts (the admin becomes the consortium admin); check the present ones."""
        deployments = self._book.load(self.chain_key)
        for name in CONTRACT_NAMES:
            art = load_artifact(name)
            dep = deployments.get(name)
            if dep is not None:
                code = bytes(self._rpc(lambda a=dep.address: self._w3.eth.get_code(a), "read contract code"))
                if hashlib.sha256(code).hexdigest() != dep.runtime_sha256:
                    state = "is missing" if not code else "differs from the deployed artifact"
                    raise ChainError(
                        f"contract {name} at {dep.address} {state} on {self.description}: the node lost "
                        "its state or is a different chain; restore the node's state or point "
                        "GOVFABRIC_CHAIN_URL at the node the workspace anchored on"
                    )
                self._bind(art, dep.address)
                continue
            args: list[Any] = [] if name == "Consortium" else [deployments["Consortium"].address]
            factory = self._w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            res = self._submit(admin, lambda f=factory, a=args: f.constructor(*a), f"deploy {name}")
            assert res.contract_address is not None
            code = bytes(self._w3.eth.get_code(res.contract_address))
            dep = Deployment(
                name, res.contract_address, res.tx_hash, res.block_number, hashlib.sha256(code).hexdigest()
            )
            self._book.save(self.chain_key, dep)
            deployments[name] = dep
            self._bind(art, dep.address)
        return deployments

    # --- sending --------------------------------------------------------------------
    def _send_raw(self, raw: bytes) -> str:
        """Hand a signed transaction to the node; return its hash. Embedded overrides this."""
        return self._rpc(lambda: self._w3.eth.send_raw_transaction(raw), "accept the transaction").to_0x_hex()

    def _base_tx(self, signer: Signer) -> dict[str, Any]:
        nonce = self._rpc(lambda: self._w3.eth.get_transaction_count(signer.address, "pending"), "read the nonce")
        return {"from": signer.address, "nonce": nonce, "chainId": self.chain_id}

    def _submit(self, signer: Signer, build: Callable[[], Any], what: str, value_tx: dict | None = None) -> TxResult:
        """Build (estimating gas: most reverts surface here), sign, send, wait for the receipt."""
        for _attempt in range(5):
            base = self._base_tx(signer)
            if value_tx is not None:
                tx = {**base, **value_tx}
                tx.setdefault("gas", 21000)
                fees = self._rpc(lambda: self._fee_fields(), "read gas prices")
                tx.update(fees)
                tx.pop("from", None)
            elif self.FIXED_GAS:
                fn = build()
                if hasattr(fn, "call"):  # one dry run surfaces a revert and its reason
                    self._rpc(lambda f=fn, b=base: f.call({"from": b["from"]}), what)
                tx = self._rpc(lambda f=fn, b=base: f.build_transaction({**b, "gas": self.FIXED_GAS}), what)
                tx.pop("from", None)
            else:
                tx = self._rpc(lambda b=base: build().build_transaction(b), what)
                tx.pop("from", None)
            raw = signer.sign_transaction(tx)
            try:
                tx_hash = self._send_raw(raw)
            except RetrySend:
                continue
            except _revert_errors() as exc:
                raise ChainError(f"the chain reverted the transaction to {what}: {_revert_reason(exc)}") from exc
            return self._wait(tx_hash, what)
        raise ChainError(f"could not {what}: the chain kept moving under concurrent writers; try again")

    def _fee_fields(self) -> dict[str, int]:
        block = self._w3.eth.get_block("latest")
        base_fee = int(block.get("baseFeePerGas") or 0)
        if "baseFeePerGas" in block:
            tip = int(self._w3.eth.max_priority_fee) if base_fee else 0
            return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}
        return {"gasPrice": int(self._w3.eth.gas_price)}

    def _wait(self, tx_hash: str, what: str) -> TxResult:
        receipt = self._rpc(lambda: self._receipt(tx_hash), f"mine the transaction to {what}")
        if int(receipt["status"]) != 1:
            raise ChainError(f"the chain reverted the transaction to {what} (tx {tx_hash}); nothing was recorded")
        number = int(receipt["blockNumber"])
        address = receipt.get("contractAddress")
        return TxResult(
            tx_hash=tx_hash,
            block_number=number,
            block_time=self.block_time(number),
            events=self._decode_receipt(receipt),
            contract_address=str(address) if address else None,
        )

    def _receipt(self, tx_hash: str) -> Any:
        """Poll for the receipt, briefly at first (dev nodes and the embedded chain mine at once)."""
        from web3.exceptions import TransactionNotFound

        deadline = time.monotonic() + self.RECEIPT_TIMEOUT_S
        delay = 0.002
        while True:
            try:
                return self._w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"transaction {tx_hash} was not mined within {self.RECEIPT_TIMEOUT_S:.0f} s on "
                        f"{self.description}; it may still be mined — check it before retrying"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def block_time(self, number: int) -> datetime:
        t = self._block_times.get(number)
        if t is None:
            block = self._rpc(lambda: self._w3.eth.get_block(number), f"read block {number}")
            t = self._block_times[number] = _ts(block["timestamp"])
        return t

    def _decode_receipt(self, receipt: Any) -> list[ChainEvent]:
        from web3.exceptions import MismatchedABI

        events: list[ChainEvent] = []
        by_address = {c.address.lower(): (name, c) for name, c in self._contracts.items()}
        for log in receipt["logs"]:
            entry = by_address.get(str(log["address"]).lower())
            if entry is None:
                continue
            name, contract = entry
            for ev in contract.events:
                try:
                    decoded = ev().process_log(log)
                except (MismatchedABI, ValueError):
                    continue
                events.append(self._event(name, decoded))
                break
        return events

    def _event(self, contract: str, decoded: Any) -> ChainEvent:
        args = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in dict(decoded["args"]).items()}
        number = int(decoded["blockNumber"])
        return ChainEvent(
            contract=contract,
            name=str(decoded["event"]),
            args=args,
            tx_hash=decoded["transactionHash"].to_0x_hex(),
            log_index=int(decoded["logIndex"]),
            block_number=number,
            block_time=self.block_time(number),
        )

    # --- consortium -----------------------------------------------------------------
    def fund(self, funder: Signer, address: str) -> TxResult | None:
        balance = self._rpc(lambda: self._w3.eth.get_balance(address), "read a balance")
        gas_price = self._rpc(lambda: self._w3.eth.gas_price, "read the gas price")
        if gas_price == 0 or balance >= self.FUNDING_WEI // 10:
            return None
        to = self._w3.to_checksum_address(address)
        return self._submit(funder, lambda: None, f"fund {address}", value_tx={"to": to, "value": self.FUNDING_WEI})

    def can_pay(self, address: str) -> bool:
        gas_price = self._rpc(lambda: self._w3.eth.gas_price, "read the gas price")
        return gas_price == 0 or self._rpc(lambda: self._w3.eth.get_balance(address), "read a balance") > 0

    def add_member(self, admin: Signer, address: str, name: str) -> TxResult:
        c = self._contract("Consortium")
        to = self._w3.to_checksum_address(address)
        return self._submit(admin, lambda: c.functions.add_member(to, name[:64]), f"add {name} to the consortium")

    def remove_member(self, admin: Signer, address: str) -> TxResult:
        c = self._contract("Consortium")
        to = self._w3.to_checksum_address(address)
        return self._submit(admin, lambda: c.functions.remove_member(to), f"remove {address} from the consortium")

    def is_member(self, address: str) -> bool:
        self._sync()
        c = self._contract("Consortium")
        return bool(self._rpc(lambda: c.functions.is_member(self._w3.to_checksum_address(address)).call(), "read"))

    # --- anchors --------------------------------------------------------------------
    def anchor(self, signer: Signer, root: bytes, metadata_digest: bytes, kind: str, count: int) -> TxResult:
        c = self._contract("AnchorRegistry")
        return self._submit(
            signer,
            lambda: c.functions.anchor(root, metadata_digest, kind, count),
            f"anchor root {root.hex()}",
        )

    def get_anchor(self, root: bytes) -> OnChainAnchor | None:
        self._sync()
        c = self._contract("AnchorRegistry")
        md, kind, count, submitter, timestamp, block = self._rpc(
            lambda: c.functions.anchors(root).call(), "read an anchor"
        )
        if int(timestamp) == 0:
            return None
        return OnChainAnchor(root, bytes(md), str(kind), int(count), str(submitter), int(block), _ts(timestamp))

    # --- sharing and grants ---------------------------------------------------------
    def record_share(
        self, signer: Signer, asset_key: bytes, version_digest: bytes, consumer: str, grant_id: bytes
    ) -> TxResult:
        c = self._contract("SharingRecords")
        to = self._w3.to_checksum_address(consumer)
        return self._submit(
            signer,
            lambda: c.functions.record_share(asset_key, version_digest, to, grant_id),
            "record a share",
        )

    def grant(self, signer: Signer, grant_id: bytes, asset_key: bytes, grantee: bytes, expires: int) -> TxResult:
        c = self._contract("AccessGrants")
        return self._submit(signer, lambda: c.functions.grant(grant_id, asset_key, grantee, expires), "record a grant")

    def revoke(self, signer: Signer, grant_id: bytes) -> TxResult:
        c = self._contract("AccessGrants")
        return self._submit(signer, lambda: c.functions.revoke(grant_id), "revoke a grant")

    def is_granted(self, grant_id: bytes, asset_key: bytes, grantee: bytes) -> bool:
        self._sync()
        c = self._contract("AccessGrants")
        return bool(self._rpc(lambda: c.functions.is_granted(grant_id, asset_key, grantee).call(), "check a grant"))

    # --- reading back ---------------------------------------------------------------
    def asset_events(self, asset_key: bytes) -> list[ChainEvent]:
        self._sync()
        out: list[ChainEvent] = []
        deployed = self._book.load(self.chain_key)
        for contract, names in (("SharingRecords", SHARE_EVENTS), ("AccessGrants", GRANT_EVENTS)):
            c = self._contract(contract)
            start = deployed[contract].block_number  # no events before the contract existed
            for name in names:
                ev = getattr(c.events, name)
                logs = self._rpc(
                    lambda e=ev, s=start: e.get_logs(from_block=s, argument_filters={"asset_key": asset_key}),
                    f"read {name} events",
                )
                out.extend(self._event(contract, log) for log in logs)
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out

    def tx_events(self, tx_hash: str) -> list[ChainEvent]:
        self._sync()
        for name in CONTRACT_NAMES:
            self._contract(name)
        receipt = self._rpc(lambda: self._w3.eth.get_transaction_receipt(tx_hash), f"read receipt {tx_hash}")
        return self._decode_receipt(receipt)

    def transaction_inputs(self, from_block: int = 0) -> list[bytes]:
        self._sync()
        latest = int(self._rpc(lambda: self._w3.eth.block_number, "read the block number"))
        inputs: list[bytes] = []
        for n in range(from_block, latest + 1):
            block = self._rpc(lambda n=n: self._w3.eth.get_block(n, full_transactions=True), f"read block {n}")
            for tx in block["transactions"]:
                data = tx.get("input", tx.get("data", b""))
                inputs.append(bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data))
        return inputs
