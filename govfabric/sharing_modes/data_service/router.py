"""``/api/v1/subscriptions``: order a range, read one's subscriptions, pull changes by cursor,
pause/resume/cancel. Every call acts as the authenticated caller (``current_fabric``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from govfabric.server.deps import current_fabric, signed_fabric
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.data_service.service import MAX_PULL, as_dict

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

router = APIRouter(prefix="/api/v1/subscriptions", tags=["data service"], responses=ERROR_RESPONSES)
SubId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]


class OrderBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    table: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
    columns: Annotated[list[Name], Field(max_length=500)] | None = None
    filter: Annotated[str, Field(max_length=4000)] | None = None
    key: Annotated[list[Name], Field(min_length=1, max_length=16)] | None = None
    change_column: Name | None = None
    push_url: Annotated[str, Field(max_length=2000)] | None = None
    purpose: Annotated[str, Field(min_length=4, max_length=2000)]


class SubscriptionOut(BaseModel):
    id: int
    subscriber: str
    table: str
    columns: list[str]
    filter: str | None
    key: list[str]
    change_column: str | None
    push_url: str | None
    purpose: str
    status: str
    request_id: int
    grant_id: int | None
    decided_by: str | None
    reason: str | None
    delivered_seq: int
    created_at: datetime
    checked_at: datetime | None


class OrderOut(BaseModel):
    subscription: SubscriptionOut
    webhook_secret: str | None = Field(description="shown once; verify pushes with it")


class ChangeOut(BaseModel):
    seq: int
    op: Literal["insert", "update", "delete"]
    key: dict[str, Any]
    row: dict[str, Any] | None = None


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    next_cursor: int


def _out(sub: Any) -> SubscriptionOut:
    return SubscriptionOut(**as_dict(sub))


@router.post("", status_code=201, response_model=OrderOut, summary="Order a range (pending the owner's approval)")
def order(body: OrderBody, fabric: Fabric = Depends(current_fabric)) -> OrderOut:
    sub, secret = fabric.subscriptions.order(body.table, columns=body.columns, filter=body.filter, key=body.key,
                                             change_column=body.change_column, push_url=body.push_url,
                                             purpose=body.purpose)
    return OrderOut(subscription=_out(sub), webhook_secret=secret)


@router.get("", response_model=list[SubscriptionOut], summary="The caller's subscriptions")
def mine(fabric: Fabric = Depends(current_fabric)) -> list[SubscriptionOut]:
    return [_out(s) for s in fabric.subscriptions.list(mine=True)]


@router.get("/{sub_id}", response_model=SubscriptionOut, summary="One subscription")
def show(sub_id: SubId, fabric: Fabric = Depends(current_fabric)
         ) -> SubscriptionOut:
    return _out(fabric.subscriptions.show(sub_id))


@router.get("/{sub_id}/changes", response_model=ChangesOut, summary="Pull changes after a cursor")
def changes(request: Request, sub_id: SubId,
            since: Annotated[int, Query(ge=0, le=2**62)] = 0,
            limit: Annotated[int, Query(ge=1, le=MAX_PULL)] = 1000) -> Response:
    fabric = signed_fabric(request)  # credentials checked here, in this thread (one hop per pull)
    out = ChangesOut(**fabric.subscriptions.changes(sub_id, since=since, limit=limit))
    # serialised here: a model returned would be validated again in a second thread hop
    return Response(out.model_dump_json(), media_type="application/json")


def _move(action: str) -> Any:
    def endpoint(sub_id: SubId,
                 fabric: Fabric = Depends(current_fabric)) -> SubscriptionOut:
        return _out(getattr(fabric.subscriptions, action)(sub_id))

    endpoint.__name__ = action
    return endpoint


for _action in ("pause", "resume", "cancel"):
    router.add_api_route(f"/{{sub_id}}/{_action}", _move(_action), methods=["POST"], response_model=SubscriptionOut,
                         summary=f"{_action.capitalize()} a subscription")
