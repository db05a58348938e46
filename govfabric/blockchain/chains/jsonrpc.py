"""Any Ethereum JSON-RPC node (Besu/QBFT in production; Anvil or Hardhat in tests).

The node keeps its own state. The first time a URL answers, its chain id and
genesis hash are recorded; a later answer with another chain id or genesis (a
different network, or a node reset to a fresh chain) is refused instead of
silently deploying a second set of contracts.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from govfabric.blockchain.chains.base import DeploymentBook
from govfabric.blockchain.chains.evm import EvmChain
from govfabric.errors import ChainError


class NetworkBook(Protocol):
    def seen(self, url: str) -> tuple[int, str] | None: ...

    def remember(self, url: str, chain_id: int, genesis_hash: str) -> None: ...


class JsonRpcChain(EvmChain):
    KEEPS_OWN_STATE: ClassVar[bool] = True
    FAST_LOG_QUERIES: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        book: DeploymentBook,
        networks: NetworkBook | None = None,
        expected_chain_id: int | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        from web3 import Web3

        if not url.startswith(("http://", "https://")):
            raise ChainError(f"chain URL {url!r} is not an http(s) JSON-RPC endpoint")
        self.url = url
        w3: Any = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        super().__init__(w3, book)
        chain_id = self.chain_id  # raises a ChainError if unreachable
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise ChainError(
                f"wrong chain: the node at {url} reports chain id {chain_id}, expected {expected_chain_id}; "
                "point GOVFABRIC_CHAIN_URL at the right network"
            )
        genesis = self._rpc(lambda: w3.eth.get_block(0), "read the genesis block")["hash"].to_0x_hex()
        if networks is not None:
            seen = networks.seen(url)
            if seen is None:
                networks.remember(url, chain_id, genesis)
            elif seen != (chain_id, genesis):
                raise ChainError(
                    f"wrong chain: the node at {url} now reports chain id {chain_id} "
                    f"with genesis {genesis[:18]}…, "
                    f"but this workspace anchored on chain id {seen[0]} with genesis {seen[1][:18]}…; "
                    "point GOVFABRIC_CHAIN_URL at the original network or restore the node's state"
                )

    @property
    def description(self) -> str:
        return f"the JSON-RPC node at {self.url} (chain id {self._chain_id})"
