"""The portal's information-sync pages (§8.4.2.9) and the signed-in person's notifications.

Topics are for signed-in people only (as in the API). Titles and bodies are plain text, escaped by
the templates. Attachments are listed as download links served exactly as the API serves them
(always ``Content-Disposition: attachment``, ``nosniff``, a sandboxing CSP); uploading one is done
through the API or the CLI (``govfabric topic attach``): the portal posts url-encoded forms only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from govfabric.errors import AuthenticationRequired, GovfabricError, ValidationFailed
from govfabric.sharing_modes.portal.router import (
    _me,
    _run,
    _signed_post,
    _to_login,
    failed,
    form_of,
    redirect,
    render,
)
from govfabric.sharing_modes.sync.service import TITLE_MAX, TYPES

router = APIRouter(include_in_schema=False)
LISTED = 50
NOTICES = 100


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
    try:
        fabric = await _signed_post(request, form)
        row = await _run(request, fabric.topics.start, form.get("type", ""), form.get("title", ""),
                         form.get("body", ""))
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return redirect(request, f"/portal/topics/{quote(row.id)}")


@router.get("/portal/topics/{topic_id}")
async def topic_page(request: Request, topic_id: str) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        topic = await _run(request, fabric.topics.get, topic_id[:32])
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "topic.html", t=topic, types=TYPES)


@router.post("/portal/topics/{topic_id}/reply")
async def reply(request: Request, topic_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    try:
        fabric = await _signed_post(request, form)
        await _run(request, fabric.topics.reply, topic_id[:32], form.get("body", ""))
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return redirect(request, f"/portal/topics/{quote(topic_id[:32])}")


@router.post("/portal/topics/{topic_id}/delete")
async def delete(request: Request, topic_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    try:
        fabric = await _signed_post(request, form)
        await _run(request, fabric.topics.delete, topic_id[:32])
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return redirect(request, "/portal/topics")


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
    try:
        fabric = await _signed_post(request, form)
        await _run(request, fabric.notifications.read, notification_id[:32])
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return redirect(request, "/portal/notifications")
