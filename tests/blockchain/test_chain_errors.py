"""Unreachable nodes, wrong chains and lost node state: clear errors, nothing written."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from chain_fixtures import rpc_url  # type: ignore[import-not-found]

from govfabric.blockchain.books import StoreDeploymentBook, StoreNetworkBook
from govfabric.blockchain.chains.jsonrpc import JsonRpcChain
from govfabric.blockchain.service import ChainService
from govfabric.errors import ChainError
from govfabric.store import Store


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    return store


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_node(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    svc = ChainService(_store(tmp_path), SimpleNamespace(home=tmp_path, chain_url=url))
    with pytest.raises(ChainError, match=r"cannot reach the chain node .*127\.0\.0\.1"):
        svc.status()


def test_not_an_http_url(tmp_path: Path) -> None:
    with pytest.raises(ChainError, match="not an http"):
        JsonRpcChain("ftp://example", StoreDeploymentBook(_store(tmp_path)))


@pytest.mark.chain
def test_wrong_chain_id_and_changed_network(tmp_path: Path) -> None:
    url = rpc_url()
    store = _store(tmp_path)
    with pytest.raises(ChainError, match="wrong chain: .* reports chain id 31337, expected 1"):
        JsonRpcChain(url, StoreDeploymentBook(store), StoreNetworkBook(store), expected_chain_id=1)
    networks = StoreNetworkBook(store)
    networks.remember(url, 1337, "0x" + "ab" * 32)  # the workspace once anchored on another network
    with pytest.raises(ChainError, match="anchored on chain id 1337"):
        JsonRpcChain(url, StoreDeploymentBook(store), networks)


@pytest.mark.chain
def test_node_that_lost_the_contracts(tmp_path: Path) -> None:
    from chain_fixtures import fund_on_dev_node  # type: ignore[import-not-found]

    store = _store(tmp_path)
    svc = ChainService(store, SimpleNamespace(home=tmp_path, chain_url=rpc_url()))
    fund_on_dev_node(svc)
    svc.ensure_ready()
    address = StoreDeploymentBook(store).load(svc.chain.chain_key)["AnchorRegistry"].address
    svc.chain._w3.provider.make_request("anvil_setCode", [address, "0x"])  # type: ignore[attr-defined]
    again = ChainService(store, SimpleNamespace(home=tmp_path, chain_url=rpc_url()))
    with pytest.raises(ChainError, match="AnchorRegistry .* is missing"):
        again.ensure_ready()


@pytest.mark.chain
def test_unfunded_operator_is_told_what_to_do(tmp_path: Path) -> None:
    svc = ChainService(_store(tmp_path), SimpleNamespace(home=tmp_path, chain_url=rpc_url()))
    with pytest.raises(ChainError, match="has no funds"):
        svc.ensure_ready()
