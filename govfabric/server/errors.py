"""Every error the API answers is one JSON shape, ``{code, message, hint, request_id}``, never a
traceback. Routers raise :class:`~govfabric.errors.GovfabricError` subclasses; the handlers here
turn them into responses with the class's ``status``."""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from govfabric.auth.secrets import redact
from govfabric.errors import GovfabricError

log = logging.getLogger("govfabric.server")


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: str
    message: str
    hint: str | None = None
    request_id: str | None = None


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: documented on every route (``APIRouter(responses=ERROR_RESPONSES)``)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("malformed request"),
    401: _doc("missing, expired, replayed or tampered signature or token"),
    403: _doc("the caller lacks the grant or role this needs"),
    404: _doc("no such object"),
    409: _doc("conflicts with existing state"),
    422: _doc("invalid parameters"),
    429: _doc("rate limit or quota exceeded (see Retry-After)"),
    500: _doc("an internal error (reported with its request id)"),
    502: _doc("a data source failed"),
    503: _doc("a data source or engine is unavailable"),
}


def _code(exc: BaseException) -> str:
    """``AccessDenied`` → ``access_denied``: a stable, machine-readable code per error class."""
    explicit = getattr(exc, "code", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_response(request: Request, status: int, code: str, message: str,
                   hint: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    request.state.error_code = code  # for the metrics of the service plane's middleware
    body = ErrorBody(code=code, message=redact(message), hint=hint,
                     request_id=getattr(request.state, "request_id", None))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def where(exc: BaseException) -> str:
    """Where an unexpected error was raised — file:line of the innermost frames, never its message:
    a message may quote a row value or a parameter, which logs must not hold."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames)) or "?"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(GovfabricError)
    async def _govfabric(request: Request, exc: GovfabricError) -> JSONResponse:
        message, _, hint = str(exc).partition("; ")
        headers = getattr(exc, "headers", None)
        return error_response(request, exc.status, _code(exc), message, hint or None, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                             for e in exc.errors()[:20])
        return error_response(request, 422, "invalid_parameters", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, f"http_{exc.status_code}", str(exc.detail),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in %s %s (request %s): %s at %s", request.method, request.url.path,
                  getattr(request.state, "request_id", None), type(exc).__name__, where(exc))
        return error_response(request, 500, "internal_error",
                              "the server failed on this request; report its request_id to the operator")
