"""HTTP routes of information sync (``/api/v1/topics``), acting as the authenticated caller.

Uploads are the raw request body (``application/octet-stream``) with the file name in the query:
a declared ``Content-Length`` over ``sync_max_attachment_bytes`` is refused with 413 before the body
is read, and a body that turns out longer is cut off at the limit. Downloads are served as
attachments with ``nosniff`` and a sandboxing CSP, whatever their type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from govfabric.errors import TooLarge
from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.sync.service import (
    BODY_MAX,
    SEARCH_MAX,
    TITLE_MAX,
    TYPES,
    attachment_dict,
    reply_dict,
    topic_dict,
)

router = APIRouter(prefix="/api/v1/topics", tags=["topics"], responses=ERROR_RESPONSES)
Caller = Annotated[Fabric, Depends(current_fabric)]
Id = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
TopicType = Annotated[str, Field(pattern="^(" + "|".join(TYPES) + ")$")]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
Body = Annotated[str, Field(min_length=1, max_length=BODY_MAX)]
Principal = Annotated[str, Query(min_length=1, max_length=128)]


class TypeOut(BaseModel):
    type: str
    label: str


class TopicIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: TopicType
    title: Title
    body: Body


class TopicPatch(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: TopicType | None = None
    title: Title | None = None
    body: Body | None = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    body: Body


class TopicOut(BaseModel):
    id: str
    type: str
    title: str
    body: str
    starter: str
    created_at: datetime
    updated_at: datetime


class TopicSummary(TopicOut):
    replies: int


class ReplyOut(BaseModel):
    id: str
    topic_id: str
    author: str
    body: str
    created_at: datetime


class AttachmentOut(BaseModel):
    id: str
    topic_id: str
    reply_id: str | None
    name: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


class TopicDetail(TopicOut):
    replies: list[ReplyOut]
    attachments: list[AttachmentOut]


@router.get("/types", response_model=list[TypeOut], summary="The topic types")
def list_types(fabric: Caller) -> list[dict[str, str]]:
    fabric.actor  # noqa: B018 - signed-in principals only
    return [{"type": k, "label": v} for k, v in TYPES.items()]


@router.get("", response_model=list[TopicSummary], summary="Search topics (newest first)")
def search_topics(fabric: Caller,
                  text: Annotated[str | None, Query(min_length=1, max_length=TITLE_MAX)] = None,
                  type: Annotated[str | None, Query(pattern="^(" + "|".join(TYPES) + ")$")] = None,
                  starter: Principal | None = None, replier: Principal | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: Annotated[int, Query(ge=1, le=SEARCH_MAX)] = 100) -> list[dict[str, Any]]:
    return fabric.topics.search(text=text, type=type, starter=starter, replier=replier, since=since,
                                until=until, limit=limit)


@router.post("", response_model=TopicOut, status_code=201, summary="Start a topic")
def start_topic(body: TopicIn, fabric: Caller) -> dict[str, Any]:
    return topic_dict(fabric.topics.start(body.type, body.title, body.body))


@router.get("/{topic_id}", response_model=TopicDetail, summary="A topic with its replies and attachments")
def show_topic(topic_id: Id, fabric: Caller) -> dict[str, Any]:
    return fabric.topics.get(topic_id)


@router.patch("/{topic_id}", response_model=TopicOut, summary="Edit a topic (its starter)")
def edit_topic(topic_id: Id, body: TopicPatch, fabric: Caller) -> dict[str, Any]:
    return topic_dict(fabric.topics.edit(topic_id, type=body.type, title=body.title, body=body.body))


@router.delete("/{topic_id}", status_code=204, response_class=Response,
               summary="Delete a topic with its replies and attachments (its starter, or an admin)")
def delete_topic(topic_id: Id, fabric: Caller) -> Response:
    fabric.topics.delete(topic_id)
    return Response(status_code=204)


@router.post("/{topic_id}/replies", response_model=ReplyOut, status_code=201,
             summary="Reply to a topic (the starter is notified)")
def reply_topic(topic_id: Id, body: ReplyIn, fabric: Caller) -> dict[str, Any]:
    return reply_dict(fabric.topics.reply(topic_id, body.body))


_UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/{topic_id}/attachments", response_model=AttachmentOut, status_code=201,
             openapi_extra=_UPLOAD_BODY,
             summary="Attach a file (raw body): the topic's starter, or a reply's author with reply_id")
async def attach(request: Request, topic_id: Id, fabric: Caller,
                 name: Annotated[str, Query(min_length=1, max_length=255)],
                 reply_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None) -> dict[str, Any]:
    limit = fabric.settings.sync_max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the attachment is over {limit} bytes (sync_max_attachment_bytes); send a smaller file")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the attachment is over {limit} bytes (sync_max_attachment_bytes); send a smaller file")
        chunks.append(chunk)
    request.state.audit = {"topic": topic_id, "size": size}
    row = await run_in_threadpool(fabric.topics.attach, topic_id, name, chunks, reply_id=reply_id)
    return attachment_dict(row)


@router.get("/{topic_id}/attachments/{attachment_id}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
            summary="Download an attachment (always as an attachment, never rendered)")
def download(topic_id: Id, attachment_id: Id, fabric: Caller) -> FileResponse:
    row, path = fabric.topics.attachment(topic_id, attachment_id)
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in row.name)
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "Repr-Digest": f"sha-256=:{_b64(row.sha256)}:",
    }
    media_type = "text/plain; charset=utf-8" if row.media_type == "text/plain" else row.media_type
    return FileResponse(path, media_type=media_type, headers=headers)


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
