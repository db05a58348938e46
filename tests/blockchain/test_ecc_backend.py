"""The embedded chain signs and recovers senders with coincurve (C), not eth-keys' pure-Python
curve arithmetic (≈ 15 ms per operation; a fresh workspace's first grant does dozens)."""

from __future__ import annotations

import os

import pytest


@pytest.mark.skipif(bool(os.environ.get("ECC_BACKEND_CLASS")), reason="backend chosen by ECC_BACKEND_CLASS")
def test_eth_keys_uses_coincurve() -> None:
    from eth_keys.backends import get_backend

    assert type(get_backend()).__name__ == "CoinCurveECCBackend"
