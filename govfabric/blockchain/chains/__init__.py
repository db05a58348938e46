"""Chain adapters behind one seam (``base.Chain``); ``open_chain`` picks one from settings."""

from __future__ import annotations

from govfabric.blockchain.chains.base import Chain, ChainEvent, Deployment, OnChainAnchor, TxResult

__all__ = ["Chain", "ChainEvent", "Deployment", "OnChainAnchor", "TxResult"]
