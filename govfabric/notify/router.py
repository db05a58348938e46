"""HTTP routes of the caller's own notifications (``/api/v1/notifications``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from govfabric.fabric import Fabric
from govfabric.notify.service import LINK_MAX, LIST_MAX, message_dict
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=ERROR_RESPONSES)
Caller = Annotated[Fabric, Depends(current_fabric)]


class NotificationOut(BaseModel):
    id: str
    sender: str
    subject: str
    body: str
    link: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None
    deliveries: dict[str, str]


class SettingsIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    webhook_url: Annotated[str, Field(min_length=8, max_length=LINK_MAX)] | None = None
    clear_email: bool = False
    clear_webhook: bool = False
    new_webhook_secret: bool = False


class SettingsOut(BaseModel):
    principal: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None = Field(None, description="only when a new one was made: keep it, it is not shown again")


@router.get("", response_model=list[NotificationOut], summary="The caller's notifications, newest first")
def list_notifications(fabric: Caller, unread: bool = False,
                       limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 100) -> list[dict[str, Any]]:
    return [message_dict(n) for n in fabric.notifications.list(unread=unread, limit=limit)]


@router.get("/settings", response_model=SettingsOut, summary="Where the caller's notifications go")
def get_settings(fabric: Caller) -> dict[str, Any]:
    return vars(fabric.notifications.settings())


@router.put("/settings", response_model=SettingsOut, summary="Set the caller's e-mail and webhook")
def put_settings(body: SettingsIn, fabric: Caller) -> dict[str, Any]:
    return vars(fabric.notifications.configure(**body.model_dump()))


@router.post("/{notification_id}/read", response_model=NotificationOut, summary="Mark one read")
def read_notification(notification_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")],
                      fabric: Caller) -> dict[str, Any]:
    return message_dict(fabric.notifications.read(notification_id))
