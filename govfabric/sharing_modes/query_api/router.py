"""HTTP routes of the conditional query services: ``/api/v1/query``.

Parameters of a call are the service's own (``col=v``, ``col.in=a,b``, ``col.gte=``/``col.lte=``,
``col.prefix=``), so OpenAPI documents their grammar here and each service's in ``…/schema``.
The answer is JSON by default, CSV for ``Accept: text/csv``, an Arrow IPC stream for
``Accept: application/vnd.apache.arrow.stream``."""

from __future__ import annotations

import io
import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govfabric.auth import audit
from govfabric.errors import ValidationFailed
from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric, signed_fabric
from govfabric.server.errors import ERROR_RESPONSES

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(prefix="/api/v1/query", tags=["query services"], responses=ERROR_RESPONSES)

ARROW = "application/vnd.apache.arrow.stream"
SERVICE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SERVICE_DOC = "the service's name"
SERVICE = Path(..., pattern=SERVICE_RE.pattern, description=SERVICE_DOC)
MAX_QUERY_BYTES = 64 * 1024


class ServiceSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    table: str
    description: str | None = None


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str
    ops: list[str]
    type: str | None = None


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str | None = None


class ServiceSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    table: str
    description: str | None = None
    params: list[ParamSpec]
    require_one_of: list[str]
    columns: list[ColumnSpec]
    order: list[str]
    page_size: int
    max_page_size: int
    version: int


class QueryPage(BaseModel):
    """One page: rows as objects of the service's columns, and the token for the next page."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]]
    next_page_token: str | None = None


@router.get("", response_model=list[ServiceSummary], summary="Query services the caller may call")
def list_services(fabric: Fabric = Depends(current_fabric)) -> list[ServiceSummary]:
    return [ServiceSummary(name=r.name, table=r.table_name, description=r.description)
            for r in fabric.query_api.list(callable_only=True)]


@router.get("/{service}/schema", response_model=ServiceSchema, summary="A service's parameters and columns")
def service_schema(service: str = SERVICE, fabric: Fabric = Depends(current_fabric)) -> ServiceSchema:
    return ServiceSchema.model_validate(fabric.query_api.describe(service))


class CallOptions(BaseModel):
    """The call's own query parameters (beside the service's conditions), validated as FastAPI
    would validate them as ``Query`` parameters (lax: ``page_size=10``), documented from the same
    fields (:func:`_options_openapi`)."""

    model_config = ConfigDict(extra="ignore")

    page_token: str | None = Field(None, max_length=4096, description="next_page_token of the previous page")
    page_size: int | None = Field(None, ge=1, le=10_000, description="rows per page (up to the service's cap)")


def _options_openapi() -> list[dict[str, Any]]:
    """The OpenAPI parameters of :func:`call_service`: the service (path) and :class:`CallOptions`
    (query), as FastAPI documents declared ``Path``/``Query`` parameters."""
    props = CallOptions.model_json_schema()["properties"]
    service = {"name": "service", "in": "path", "required": True, "description": SERVICE_DOC,
               "schema": {"type": "string", "pattern": SERVICE_RE.pattern, "description": SERVICE_DOC,
                          "title": "Service"}}
    return [service, *({"name": name, "in": "query", "required": False, "schema": {k: v for k, v in schema.items()
                        if k != "default"}, "description": schema["description"]} for name, schema in props.items())]


def _options(request: Request) -> tuple[str, CallOptions]:
    """The service's name and :class:`CallOptions` of a call, read in the endpoint: FastAPI's per-field
    validation of declared parameters was ~5 % of a call's CPU on the server. An invalid one is the same
    422 (``invalid_parameters``, each problem located) as FastAPI's."""
    service = request.path_params.get("service", "")
    query = request.query_params
    errors: list[dict[str, Any]] = []
    if not isinstance(service, str) or not SERVICE_RE.fullmatch(service):
        errors.append({"type": "string_pattern_mismatch", "loc": ("path", "service"),
                       "msg": f"String should match pattern '{SERVICE_RE.pattern}'", "input": service})
    options = None
    try:
        options = CallOptions.model_validate({k: query[k] for k in ("page_token", "page_size") if k in query})
    except ValidationError as exc:
        errors.extend({**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False))
    if errors or options is None:
        raise RequestValidationError(errors)
    return service, options


@router.get(
    "/{service}",
    summary="Call a conditional query service",
    description=(
        "Conditions are the service's parameters (see `GET /api/v1/query/{service}/schema`): "
        "`col=v` (eq), `col.in=a,b` or repeated `col.in=` (in), `col.gte=`/`col.lte=` (range), "
        "`col.prefix=` (prefix). Each value at most 1024 characters. Pages: pass `next_page_token` "
        "back as `page_token` with the same conditions."),
    response_model=QueryPage,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                 ARROW: {"schema": {"type": "string", "format": "binary"}}},
                     "description": "a page of rows (JSON, CSV or Arrow IPC stream by Accept); "
                                    "the next page token is also in the `X-Next-Page-Token` header"}},
    openapi_extra={"parameters": _options_openapi()},
)
def call_service(request: Request) -> Response:
    service, options = _options(request)  # first, as FastAPI checks declared parameters before the endpoint
    fabric = signed_fabric(request)  # the signature checked here, in this thread (one hop per request)
    if len(request.scope.get("query_string", b"")) > MAX_QUERY_BYTES:  # not request.url: no URL built
        raise ValidationFailed("the query string is too long")
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key in ("page_token", "page_size"):
            if len(request.query_params.getlist(key)) > 1:
                raise ValidationFailed(f"parameter {key} is given more than once; give it once")
            continue
        params.setdefault(key, []).append(value)
    audit.arm()  # the answer is one query's: its recording writes this request's api.call event too
    page = fabric.query_api.call(service, params, page_token=options.page_token, page_size=options.page_size)
    headers = {"X-Next-Page-Token": page.next_page_token} if page.next_page_token else {}
    accept = request.headers.get("accept", "")
    if ARROW in accept:
        return Response(_arrow(page.table), media_type=ARROW, headers=headers)
    if "text/csv" in accept:
        return Response(_csv(page.table), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(_page_json(page.rows, page.next_page_token), media_type="application/json", headers=headers)


def _page_json(rows: list[dict[str, Any]], token: str | None) -> bytes:
    """The JSON answer, encoded by orjson (dates, NaN → null and UTF-8 natively; decimals and bytes by
    :func:`_json`): ~5× the standard library's encoder on the rows and no per-value Python pass."""
    import orjson

    try:
        return orjson.dumps({"rows": rows, "next_page_token": token}, default=_json)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the standard library's, value by value
        return bytes(JSONResponse({"rows": [{k: _json(v) for k, v in r.items()} for r in rows],
                                   "next_page_token": token}).body)


def _json(v: Any) -> Any:
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _csv(table: pa.Table) -> bytes:
    import pyarrow.csv as pcsv

    out = io.BytesIO()
    pcsv.write_csv(table, out)
    return out.getvalue()


def _arrow(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
