"""A served workspace, on a SQLite and on a PostgreSQL store (the root ``store_url`` fixture): an
admin origin, an app and a person, and a signing client that
calls the app in process (ASGI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govfabric.auth import apps


@pytest.fixture
def served(tmp_path: Path, store_url: str) -> Iterator[Any]:
    from govfabric.fabric import init_workspace

    fabric = init_workspace(tmp_path / "ws", store_url=store_url)
    fabric.add_principal("steward1", ["steward"], department="市场监管局")
    fabric.add_principal("analyst1", ["analyst"], department="发展改革委")
    yield fabric
    fabric.close()


@pytest.fixture
def make_app(served: Any) -> Callable[..., TestClient]:
    """A TestClient on ``create_app`` for the served workspace, with settings overridden."""
    from govfabric.fabric import Fabric
    from govfabric.server.app import create_app

    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        origin = Fabric(served.settings.model_copy(update=settings), served.user)
        client = TestClient(create_app(origin), base_url="http://testserver", raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def app_client(make_app: Callable[..., TestClient]) -> TestClient:
    return make_app()


@pytest.fixture
def gs_app(served: Any) -> apps.Issued:
    return apps.add(served, "gs_system", department="市场监管局")


def signed(request: Any, issued: apps.Issued, **kw: Any) -> httpx.Request:
    from govfabric.auth import httpsig

    httpsig.sign(request, key_id=issued.key_id, secret=issued.secret.encode(), alg=issued.alg,
                 body=request.content or None, **kw)
    return request
