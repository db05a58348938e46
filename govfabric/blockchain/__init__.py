"""Blockchain sharing mode: Vyper contracts, chain adapters, Merkle anchoring and verification.

Only roots, salted digests, ids and department addresses go on chain. Heavy parts
(web3, eth-tester, py-evm) load when a chain is first opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govfabric.blockchain.results import AnchorReceipt, VerificationResult
    from govfabric.blockchain.service import ChainService

__all__ = ["AnchorReceipt", "ChainService", "VerificationResult"]


def __getattr__(name: str) -> Any:
    if name == "ChainService":
        from govfabric.blockchain.service import ChainService

        return ChainService
    if name in ("AnchorReceipt", "VerificationResult"):
        from govfabric.blockchain import results

        return getattr(results, name)
    raise AttributeError(name)
