"""A query service call reads its own parameters (service, page_token, page_size) in the endpoint
(``router._options``) instead of FastAPI's declared ones: documented and validated as FastAPI did."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Path, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from govfabric.sharing_modes.query_api import router as qr


def _operation(app: FastAPI) -> dict[str, Any]:
    return app.openapi()["paths"]["/api/v1/query/{service}"]["get"]


def test_openapi_documents_the_parameters_as_declared_ones() -> None:
    """The same parameters FastAPI generates for ``Path``/``Query`` declarations with these constraints."""
    declared = FastAPI()

    @declared.get("/api/v1/query/{service}")
    def call(service: str = Path(..., pattern=qr.SERVICE_RE.pattern, description=qr.SERVICE_DOC),
             page_token: str | None = Query(None, max_length=4096, description="next_page_token of the previous page"),
             page_size: int | None = Query(None, ge=1, le=10_000,
                                           description="rows per page (up to the service's cap)"),
             ) -> None:
        return None

    served = FastAPI()
    served.include_router(qr.router)
    assert _operation(served)["parameters"] == _operation(declared)["parameters"]


def _request(path_service: str, query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": f"/api/v1/query/{path_service}", "query_string": query,
                    "headers": [], "path_params": {"service": path_service}})


@pytest.mark.parametrize(("service", "query", "where"), [
    ("Bad Name", b"uscc=1", ("path", "service")),
    ("ent", b"page_size=0", ("query", "page_size")),
    ("ent", b"page_size=10001", ("query", "page_size")),
    ("ent", b"page_size=abc", ("query", "page_size")),
    ("ent", b"page_size=", ("query", "page_size")),
    ("ent", b"page_size=3&page_size=1.5", ("query", "page_size")),  # the last one counts, as in FastAPI
    ("ent", b"page_token=" + b"A" * 4097, ("query", "page_token")),
])
def test_invalid_options_are_located(service: str, query: bytes, where: tuple[str, str]) -> None:
    with pytest.raises(RequestValidationError) as caught:
        qr._options(_request(service, query))
    assert [tuple(e["loc"]) for e in caught.value.errors()] == [where]


def test_valid_options() -> None:
    assert qr._options(_request("ent_lookup", b"uscc=1")) == ("ent_lookup", qr.CallOptions.model_validate({}))
    service, options = qr._options(_request("ent_lookup", b"uscc=1&page_size=7&page_token=abc"))
    assert (service, options.page_size, options.page_token) == ("ent_lookup", 7, "abc")
    assert qr._options(_request("ent_lookup", b"page_token="))[1].page_token == ""  # empty: no token, as before
