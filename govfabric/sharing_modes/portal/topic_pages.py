"""The portal's information-sync pages (§8.4.2.9) and the signed-in person's notifications.

Topics are for signed-in people only (as in the API). Titles and bodies are plain text, escaped by
the templates. Attachments are listed as download links served exactly as the API serves them
(always ``Content-Disposition: attachment``, ``nosniff``, a sandboxing CSP). The starter uploads files
on the topic's page and anyone may add one to a reply: multipart forms, the body capped near
``sync_max_attachment_bytes`` while it is read, then handed to the sync service, which alone checks
the name, the exact size and the sniffed type and stores the content by its hash."""

from __future__ import annotations

from typing import IO, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from govfabric.errors import GovfabricError, TooLarge, ValidationFailed
from govfabric.sharing_modes.portal.router import (
    _act,
    _me,
    _origin,
    _run,
    _to_login,
    failed,
    form_of,
    redirect,
    render,
)
from govfabric.sharing_modes.sync import blobs
from govfabric.sharing_modes.sync.service import TITLE_MAX, TYPES

router = APIRouter(include_in_schema=False)
LISTED = 50
NOTICES = 100
#: room for the multipart envelope and the text fields beside the file
FORM_SLACK = 64 * 1024
CHUNK = 64 * 1024
Upload = tuple[str, list[bytes]]


def _signed(request: Request) -> Any:
    me = _me(request)
    return request.app.state.fabrics(me) if me else None


def _search(fabric: Any, text: str, type: str, starter: str) -> list[dict[str, Any]]:
    if type and type not in TYPES:
        raise ValidationFailed(f"unknown topic type {type!r}; choose one of {', '.join(TYPES)}")
    return fabric.topics.search(text=text or None, type=type or None, starter=starter or None, limit=LISTED)


@router.get("/portal/topics")
async def topics_page(request: Request, text: str = "", type: str = "", starter: str = "") -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    text, starter = text.strip()[:TITLE_MAX], starter.strip()[:128]
    try:
        found = await _run(request, _search, fabric, text, type, starter)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "topics.html", topics=found, text=text, type=type, starter=starter, types=TYPES)


@router.post("/portal/topics")
async def start_topic(request: Request, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, lambda f: f.topics.start(form.get("type", ""), form.get("title", ""),
                                                              form.get("body", "")),
                      then=lambda row: redirect(request, f"/portal/topics/{quote(row.id)}"))


@router.get("/portal/topics/{topic_id}")
async def topic_page(request: Request, topic_id: str) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        topic = await _run(request, fabric.topics.get, topic_id[:32])
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "topic.html", t=topic, types=TYPES, allowed=", ".join(blobs.ALLOWED.values()),
                  max_bytes=fabric.settings.sync_max_attachment_bytes)


async def upload_form(request: Request) -> tuple[dict[str, str], Upload | None]:
    """A form with at most one file (multipart), or a plain url-encoded one. The body is refused (413)
    once it is larger than the attachment limit plus :data:`FORM_SLACK`, before it is all read; the
    file's own checks (exact size, type, name) are the sync service's."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await form_of(request), None
    limit = _origin(request).settings.sync_max_attachment_bytes
    too_large = TooLarge(f"the attachment is over {limit} bytes (sync_max_attachment_bytes); send a smaller file")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise too_large

    async def capped() -> Any:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + FORM_SLACK:
                raise too_large
            yield chunk

    try:
        data = await MultiPartParser(request.headers, capped(), max_files=1, max_fields=10).parse()
    except MultiPartException:
        raise ValidationFailed("the form could not be read; submit it from the portal page") from None
    fields = {k: v for k, v in data.multi_items() if isinstance(v, str)}
    upload: Upload | None = None
    for _, v in data.multi_items():
        if isinstance(v, UploadFile) and v.filename:  # an empty file input sends a part without a name
            upload = (v.filename, _chunks(v.file))
    await data.close()
    return fields, upload


def _chunks(file: IO[bytes]) -> list[bytes]:
    file.seek(0)
    return list(iter(lambda: file.read(CHUNK), b""))


@router.post("/portal/topics/{topic_id}/reply")
async def reply(request: Request, topic_id: str) -> Response:
    """A reply, with an optional file stored in the same step (a refused file stores no reply)."""
    try:
        form, upload = await upload_form(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return await _act(request, form, lambda f: f.topics.reply(topic_id[:32], form.get("body", ""), attachment=upload),
                      then=f"/portal/topics/{quote(topic_id[:32])}")


@router.post("/portal/topics/{topic_id}/attachments")
async def attach(request: Request, topic_id: str) -> Response:
    """The starter's upload of a file to the topic."""
    try:
        form, upload = await upload_form(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return await _act(request, form, _attach, topic_id[:32], upload, then=f"/portal/topics/{quote(topic_id[:32])}")


def _attach(fabric: Any, topic_id: str, upload: Upload | None) -> None:
    if upload is None:
        raise ValidationFailed("choose a file to upload")
    fabric.topics.attach(topic_id, upload[0], upload[1])


@router.post("/portal/topics/{topic_id}/delete")
async def delete(request: Request, topic_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, lambda f: f.topics.delete(topic_id[:32]), then="/portal/topics")


@router.get("/portal/topics/{topic_id}/attachments/{attachment_id}")
async def download(request: Request, topic_id: str, attachment_id: str) -> Response:
    """The API's own download response (attachment disposition, nosniff, sandbox CSP), audited."""
    from govfabric.sharing_modes.sync.router import download as api_download

    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        return await _run(request, api_download, topic_id[:32], attachment_id[:32], fabric)
    except GovfabricError as exc:
        return failed(request, exc)


# -- notifications ---------------------------------------------------------------------------------


@router.get("/portal/notifications")
async def notifications_page(request: Request, unread: bool = False) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        items = await _run(request, lambda: fabric.notifications.list(unread=unread, limit=NOTICES))
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "notifications.html", items=items, unread=unread, link=_portal_link)


def _portal_link(link: str | None) -> str | None:
    """An API link to a topic or share as its portal page; other links are shown as text only."""
    for api, page in (("/api/v1/topics/", "/portal/topics/"), ("/api/v1/shares/", "/portal/shares/")):
        if link and link.startswith(api) and "/" not in link[len(api):]:
            return page + quote(link[len(api):])
    return None


@router.post("/portal/notifications/{notification_id}/read")
async def mark_read(request: Request, notification_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, lambda f: f.notifications.read(notification_id[:32]),
                      then="/portal/notifications")
