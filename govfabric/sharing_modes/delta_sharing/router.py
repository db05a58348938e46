"""HTTP routes of the Delta Sharing protocol under ``/delta-sharing``.

The service-plane middleware passes these paths through unauthenticated: a recipient's bearer
token is checked here (:func:`recipient_fabric`), which then names the principal for the
middleware's ``api.call`` audit event; file URLs are authenticated by their own signature. Errors
are the protocol's ``{errorCode, message}`` (:class:`ProtocolRoute`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from govfabric.auth.secrets import redact
from govfabric.errors import AuthenticationRequired, GovfabricError, ValidationFailed
from govfabric.fabric import Fabric
from govfabric.sharing_modes.delta_sharing.service import PREFIX, DeltaSharing, iter_ndjson

VERSION_HEADER = "delta-table-version"
CAPABILITIES = "delta-sharing-capabilities"
NDJSON = "application/x-ndjson; charset=utf-8"
_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "RESOURCE_DOES_NOT_EXIST", 409: "RESOURCE_ALREADY_EXISTS", 429: "TOO_MANY_REQUESTS"}


class ProtocolError(BaseModel):
    errorCode: str
    message: str


class ProtocolRoute(APIRoute):
    """A route whose ``GovfabricError``s answer in the protocol's error JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except GovfabricError as exc:
                status = 400 if exc.status == 422 else exc.status
                request.state.error_code = _CODES.get(status, "INTERNAL_ERROR")
                return JSONResponse({"errorCode": request.state.error_code, "message": redact(str(exc))},
                                    status_code=status)

        return run


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ProtocolError, "description": c} for s, c in _CODES.items() if s in (400, 401, 403, 404)}
router = APIRouter(prefix=PREFIX, tags=["delta-sharing"], responses=_ERRORS, route_class=ProtocolRoute)
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")]
MaxResults = Annotated[int | None, Query(alias="maxResults", ge=1, le=1000)]
PageToken = Annotated[str | None, Query(alias="pageToken", pattern=r"^\d{1,9}$")]


def recipient_fabric(request: Request) -> Fabric:
    """The façade acting as the principal of the recipient whose bearer token came with the request;
    the service plane's rate limits and quotas apply here (the middleware passes these paths through)."""
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise AuthenticationRequired("send the profile's bearer token: Authorization: Bearer <token>")
    fabrics = request.app.state.fabrics
    rec = fabrics.origin.delta_sharing.authenticate(value.strip())
    request.state.principal = rec.principal  # the middleware's audit event names the caller
    request.state.recipient = rec.name
    request.state.recipient_scope = rec.scope
    request.state.audit = {"recipient": rec.name}
    server = getattr(request.app.state, "server", None)
    if server is not None:  # the service plane's limits, per principal and route (429 when over)
        server.limits.check(rec.principal, getattr(request.scope.get("route"), "path", PREFIX))
    fabric: Fabric = fabrics(rec.principal)
    return fabric


def recipient_service(request: Request) -> DeltaSharing:
    """The protocol acting as the recipient's principal, within the recipient's scope."""
    fabric = recipient_fabric(request)
    return DeltaSharing(fabric, request.state.recipient_scope)


Caller = Annotated[DeltaSharing, Depends(recipient_service)]


class Share(BaseModel):
    name: str
    id: str


class Shares(BaseModel):
    items: list[Share]
    nextPageToken: str | None = None


class ShareOut(BaseModel):
    share: Share


class SchemaItem(BaseModel):
    name: str
    share: str


class Schemas(BaseModel):
    items: list[SchemaItem]
    nextPageToken: str | None = None


class TableItem(BaseModel):
    name: str
    schema_: str = Field(alias="schema")
    share: str
    shareId: str
    id: str


class Tables(BaseModel):
    items: list[TableItem]
    nextPageToken: str | None = None


class QueryBody(BaseModel):
    """What clients send; hints are best effort, time travel and change feeds are not served."""

    model_config = ConfigDict(extra="ignore")

    predicateHints: list[str] | None = None
    jsonPredicateHints: str | None = Field(default=None, max_length=65536)
    limitHint: int | None = Field(default=None, ge=0, le=2**40)
    version: int | None = Field(default=None, ge=0)
    timestamp: str | None = None
    startingVersion: int | None = None
    endingVersion: int | None = None


def _page(items: list[dict[str, Any]], max_results: int | None, token: str | None) -> dict[str, Any]:
    start = int(token) if token else 0
    end = start + max_results if max_results else len(items)
    return {"items": items[start:end], "nextPageToken": str(end) if end < len(items) else None}


@router.get("/shares", response_model=Shares, response_model_exclude_none=True, summary="List shares")
def list_shares(svc: Caller, max_results: MaxResults = None, page_token: PageToken = None) -> dict[str, Any]:
    return _page(svc.list_shares(), max_results, page_token)


@router.get("/shares/{share}", response_model=ShareOut, summary="Get a share")
def get_share(share: Ident, svc: Caller) -> dict[str, Any]:
    return {"share": svc.get_share(share)}


@router.get("/shares/{share}/schemas", response_model=Schemas, response_model_exclude_none=True,
            summary="List schemas in a share")
def list_schemas(share: Ident, svc: Caller, max_results: MaxResults = None,
                 page_token: PageToken = None) -> dict[str, Any]:
    return _page(svc.list_schemas(share), max_results, page_token)


@router.get("/shares/{share}/schemas/{schema}/tables", response_model=Tables, response_model_exclude_none=True,
            response_model_by_alias=True, summary="List tables in a schema")
def list_tables(share: Ident, schema: Ident, svc: Caller, max_results: MaxResults = None,
                page_token: PageToken = None) -> dict[str, Any]:
    return _page(svc.list_tables(share, schema), max_results, page_token)


@router.get("/shares/{share}/all-tables", response_model=Tables, response_model_exclude_none=True,
            response_model_by_alias=True, summary="List all tables in a share")
def list_all_tables(share: Ident, svc: Caller, max_results: MaxResults = None,
                    page_token: PageToken = None) -> dict[str, Any]:
    return _page(svc.list_tables(share), max_results, page_token)


_TABLE = "/shares/{share}/schemas/{schema}/tables/{table}"


def table_version(share: Ident, schema: Ident, table: Ident, svc: Caller,
                  starting_timestamp: Annotated[str | None, Query(alias="startingTimestamp", max_length=64)] = None
                  ) -> Response:
    """The table's version in the ``delta-table-version`` header (the body is empty)."""
    if starting_timestamp is not None:
        raise ValidationFailed("startingTimestamp is not supported; govfabric serves the current version")
    version = svc.version(share, schema, table)
    return Response(status_code=200, headers={VERSION_HEADER: str(version)})


router.add_api_route(f"{_TABLE}/version", table_version, methods=["GET"], summary="Query table version",
                     response_class=Response, operation_id="delta_table_version")
router.add_api_route(f"{_TABLE}/version", table_version, methods=["HEAD"], summary="Query table version (HEAD)",
                     response_class=Response, operation_id="delta_table_version_head")

_NDJSON_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/x-ndjson": {}},
                                                          "description": "protocol, metaData and file lines"}}


def _ndjson(answer: Any) -> StreamingResponse:
    lines: list[dict[str, Any]] = [{"protocol": {"minReaderVersion": 1}}, {"metaData": answer.metadata},
                                   *({"file": f} for f in answer.files)]
    return StreamingResponse(iter_ndjson(lines), media_type=NDJSON,
                             headers={VERSION_HEADER: str(answer.version), CAPABILITIES: "responseformat=parquet"})


@router.get(f"{_TABLE}/metadata", response_class=StreamingResponse, responses=_NDJSON_RESPONSE,
            summary="Query table metadata (NDJSON)")
def table_metadata(share: Ident, schema: Ident, table: Ident, svc: Caller) -> StreamingResponse:
    return _ndjson(svc.metadata(share, schema, table))


@router.post(f"{_TABLE}/query", response_class=StreamingResponse, responses=_NDJSON_RESPONSE,
             summary="Read data from a table (parquet response format)")
def table_query(request: Request, share: Ident, schema: Ident, table: Ident, body: QueryBody,
                svc: Caller) -> StreamingResponse:
    """``limitHint`` is applied; ``jsonPredicateHints`` best effort (never narrower than asked)."""
    import json

    if body.timestamp is not None or body.startingVersion is not None or body.endingVersion is not None:
        raise ValidationFailed("time travel and change data feed are not supported; query the current version")
    predicate = None
    if body.jsonPredicateHints:
        try:
            predicate = json.loads(body.jsonPredicateHints)
        except ValueError:
            predicate = None  # a hint: ignoring it is allowed
    answer = svc.query(share, schema, table, base_url=str(request.base_url),
                                        recipient=request.state.recipient, limit=body.limitHint,
                                        predicate=predicate, version=body.version)
    request.state.audit = {"recipient": request.state.recipient, "limit": body.limitHint,
                           "predicate": predicate is not None}
    return _ndjson(answer)


def download(request: Request, file_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
             recipient: Annotated[str, Query(min_length=1, max_length=128)],
             expires: Annotated[int, Query(ge=0, le=2**40)],
             sig: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$")]) -> FileResponse:
    """A materialised Parquet file through its signed, expiring URL (HEAD and Range supported)."""
    origin = request.app.state.fabrics.origin
    f = origin.delta_sharing.file_for_url(file_id, recipient, expires, sig)
    request.state.principal = f.principal
    request.state.audit = {"recipient": recipient, "file": f.id, "range": bool(request.headers.get("range"))}
    return FileResponse(f.path, media_type="application/vnd.apache.parquet",
                        headers={"Cache-Control": "private, no-store", "ETag": f'"{f.sha256}"'})


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/vnd.apache.parquet": {}}, "description": "the Parquet file"},
    206: {"description": "the requested byte range"}}
router.add_api_route("/files/{file_id}", download, methods=["GET"], response_class=FileResponse,
                     responses=_FILE_RESPONSES, operation_id="delta_file", summary="A file through its signed URL")
router.add_api_route("/files/{file_id}", download, methods=["HEAD"], response_class=FileResponse,
                     responses=_FILE_RESPONSES, operation_id="delta_file_head", summary="A file's headers")
