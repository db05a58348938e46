"""Helpers and fixtures of the blockchain tests (conftest.py re-exports the fixtures).

A workspace's chain service on the embedded EVM and on the real JSON-RPC node (Anvil)
that .ci/run starts at GOVFABRIC_TEST_RPC_URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from govfabric.blockchain.service import ChainService
from govfabric.store import Store


def rpc_url() -> str:
    """The JSON-RPC node for tests: required under CI, skipped locally when absent."""
    try:
        from infra.services import require_rpc_url  # type: ignore[import-not-found]
    except ImportError:
        try:
            from tests.infra.services import require_rpc_url  # type: ignore[import-not-found]
        except ImportError:
            require_rpc_url = None
    if require_rpc_url is not None:
        return str(require_rpc_url())
    url = os.environ.get("GOVFABRIC_TEST_RPC_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("GOVFABRIC_TEST_RPC_URL is not set under CI: the Ethereum node must be started")
        pytest.skip("no Ethereum JSON-RPC node (set GOVFABRIC_TEST_RPC_URL, e.g. Anvil)")
    return url


def fund_on_dev_node(svc: ChainService, wei: int = 10**21) -> None:
    """Give the workspace operator ether on a development node (Anvil or Hardhat)."""
    provider = svc.chain._w3.provider  # type: ignore[attr-defined]
    for method in ("anvil_setBalance", "hardhat_setBalance"):
        reply = provider.make_request(method, [svc.operator.address, hex(wei)])
        if "error" not in reply:
            return
    raise AssertionError("the test node offers neither anvil_setBalance nor hardhat_setBalance")


MakeService = Callable[..., ChainService]


@pytest.fixture(params=["embedded", pytest.param("jsonrpc", marks=pytest.mark.chain)])
def chain_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_service(tmp_path: Path, chain_kind: str) -> Iterator[MakeService]:
    """Build chain services on one workspace (same store, same keys), as a restart would."""
    url = rpc_url() if chain_kind == "jsonrpc" else None
    made: list[ChainService] = []
    home = tmp_path / "ws"
    home.mkdir()

    def make(**kw: object) -> ChainService:
        store = Store(f"sqlite:///{home / 'store.db'}")
        store.migrate()
        svc = ChainService(store, SimpleNamespace(home=home, chain_url=url), **kw)  # type: ignore[arg-type]
        if url:
            fund_on_dev_node(svc)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
        svc.store.dispose()


@pytest.fixture
def service(make_service: MakeService) -> ChainService:
    svc = make_service()
    svc.ensure_ready()
    return svc
