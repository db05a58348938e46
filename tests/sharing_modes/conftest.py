"""Router tests before the whole server: a bare FastAPI app with the server's error handlers,
one router, and the caller fixed to one principal (what the authentication layer would establish).
End-to-end tests with signed requests against ``govfabric serve`` live in ``tests/server``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from govfabric.server import errors


@pytest.fixture
def router_client() -> Callable[..., TestClient]:
    def make(fabric, router: APIRouter, principal: str) -> TestClient:
        app = FastAPI()
        errors.install(app)
        app.include_router(router)
        app.state.fabrics = fabric.as_user

        @app.middleware("http")
        async def _as(request: Request, call_next):  # type: ignore[no-untyped-def]
            request.state.principal = principal
            request.state.request_id = "test-request"
            return await call_next(request)

        return TestClient(app, raise_server_exceptions=False)

    return make
