"""HTTP routes of dataset files. Every route but the download acts as the authenticated caller
(``current_fabric``); the download is authenticated by its link's signature alone and then acts as
the link's consumer, re-checked (active, still granted) before the file is served."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.files import writers
from govfabric.sharing_modes.files.service import PREVIEW_MAX, offer_dict

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"], responses=ERROR_RESPONSES)
Caller = Annotated[Fabric, Depends(current_fabric)]
Name = Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]
Format = Annotated[str, Field(pattern=r"^(csv|xlsx|parquet|json|ndjson)$")]


class Offer(BaseModel):
    name: str
    kind: str
    title: str | None
    formats: list[str]
    encoding: str
    bom: bool
    owner_department: str | None
    published_by: str
    published_at: str


class ColumnInfo(BaseModel):
    name: str
    type: str | None


class DatasetInfo(Offer):
    columns: list[ColumnInfo]


class Preview(BaseModel):
    dataset: str
    columns: list[str]
    rows: list[list[Any]]


class LinkRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    format: Format
    expires: Annotated[str, Field(pattern=r"^\s*\d{1,7}\s*[smhd]\s*$")] = "1h"


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


@router.get("", response_model=list[Offer], summary="Datasets offered as files")
def list_datasets(fabric: Caller) -> list[dict[str, Any]]:
    return [offer_dict(o) for o in fabric.datasets.offers()]


@router.get("/{name}", response_model=DatasetInfo, summary="A dataset's formats and the columns the caller gets")
def show_dataset(name: Name, fabric: Caller) -> dict[str, Any]:
    return fabric.datasets.describe(name)


@router.get("/{name}/preview", response_model=Preview, summary="The first rows as the caller sees them")
def preview_dataset(name: Name, fabric: Caller,
                    rows: Annotated[int, Query(ge=1, le=PREVIEW_MAX)] = 20) -> dict[str, Any]:
    return fabric.datasets.preview(name, rows)


@router.post("/{name}/links", response_model=LinkOut, status_code=201,
             summary="A signed, expiring download link for the caller's file")
def create_link(name: Name, body: LinkRequest, fabric: Caller) -> dict[str, Any]:
    link = fabric.datasets.link(name, body.format, body.expires.strip())
    return {"url": link.url, "expires_at": link.expires_at}


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {m: {} for m in writers.MEDIA_TYPES.values()}, "description": "the file"},
    206: {"description": "the requested byte range"}}


@router.get("/{name}/download", response_class=FileResponse, responses=_DOWNLOAD_RESPONSES,
            summary="Download through a signed link (Range requests supported)")
def download(request: Request, name: Name, format: Format,
             consumer: Annotated[str, Query(min_length=1, max_length=128)],
             expires: Annotated[int, Query(ge=0, le=2**40)],
             sig: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$")]) -> FileResponse:
    """No request signature here: the link's own HMAC authenticates; the consumer is then re-checked
    by acting as them (a disabled principal or a revoked grant is refused)."""
    fabric: Fabric = request.app.state.fabrics(consumer)
    service = fabric.datasets
    service.check_link(name, format, consumer, expires, sig)
    offer = service.offer(name)
    f = service.materialise(name, format)
    import os

    from govfabric.auth.audit import append_many, arm, take_owed

    assert f.path is not None
    ranged = bool(request.headers.get("range"))
    stat = os.stat(f.path)  # here, in the endpoint's thread: FileResponse would hop to another for it
    arm()  # the request's api.call event is written with the download's own: one audit transaction, no hop
    status = 206 if ranged and not request.headers.get("if-range") else 200  # as FileResponse answers
    owed = take_owed(status)
    entries = [(consumer, "dataset.download", f"dataset:{offer.name}",
                {"file": f.id, "format": format, "method": request.method, "range": ranged})]
    with fabric.store.session() as s:
        append_many(s, [*entries, *([owed.build(status)] if owed is not None else [])])
    if owed is not None:
        owed.written = True
    filename = f"{offer.title or offer.name}.{writers.EXTENSIONS[format]}"
    ascii_name = f"{offer.name}.{writers.EXTENSIONS[format]}"
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "Repr-Digest": f"sha-256=:{_b64(f.sha256)}:",
        "X-Content-SM3": f.sm3,
        "Cache-Control": "private, no-store",
    }
    return FileResponse(f.path, media_type=writers.MEDIA_TYPES[format], headers=headers, stat_result=stat)


# HEAD (size, digests) is the same endpoint under its own operation id: one route with both
# methods gave OpenAPI two operations named ``download_api_v1_datasets__name__download_get``
router.add_api_route("/{name}/download", download, methods=["HEAD"], response_class=FileResponse,
                     responses=_DOWNLOAD_RESPONSES, operation_id="download_dataset_head",
                     summary="A download's headers (size, digests) through a signed link")


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
