"""HTTP routes of sharing process management (``/api/v1/shares``), acting as the caller."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.process.service import offer_dict, public_overdue

router = APIRouter(prefix="/api/v1/shares", tags=["shares"], responses=ERROR_RESPONSES)
Caller = Annotated[Fabric, Depends(current_fabric)]
ShareName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s/]+$")]
Hours = Annotated[float, Field(gt=0, le=8784)]


class Offer(BaseModel):
    name: str
    target_kind: str
    target: str
    tables: list[str]
    title: str | None
    owner_department: str | None
    sharing_class: str
    open_class: str
    state: str
    state_since: str
    limits: dict[str, float]
    created_by: str
    created_at: str


class Step(BaseModel):
    at: str
    by: str
    reason: str
    to: str
    from_: str | None = Field(alias="from")


class RequestInfo(BaseModel):
    id: int
    share: str | None
    requester: str
    department: str | None
    owner_department: str | None
    purpose: str
    mode: str
    status: str
    access_requests: list[int]
    grants: list[int]
    created_at: str
    decided_at: str | None
    hours_to_decide: float | None


class OfferInfo(Offer):
    history: list[Step]
    effective_limits: dict[str, float]
    requests: list[RequestInfo]


class NewOffer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: Literal["table", "view", "service", "dataset"]
    target: Annotated[str, Field(min_length=1, max_length=256)]
    name: ShareName | None = None
    title: Annotated[str, Field(max_length=2000)] | None = None
    sharing_class: Annotated[str, Field(max_length=32)] | None = None
    open_class: Annotated[str, Field(max_length=32)] | None = None
    limits: dict[Literal["draft", "submitted", "reviewed", "request"], Hours] = {}
    reason: Annotated[str, Field(max_length=2000)] | None = None


class StepBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class ReviewBody(StepBody):
    approve: bool = True


class NewRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    purpose: Annotated[str, Field(min_length=4, max_length=2000)]


class Requested(BaseModel):
    id: int
    mode: str
    grants: list[int]
    access_requests: list[int]


class Overdue(BaseModel):
    item: str
    share: str
    owner_department: str | None
    stage: str
    since: str
    due_at: str
    overdue_hours: float
    notify: str


class DepartmentStats(BaseModel):
    department: str
    offers: int
    by_state: dict[str, int]
    by_sharing_class: dict[str, int]
    by_open_class: dict[str, int]
    requests: int
    requests_by_status: dict[str, int]
    grants: int
    overdue: int
    decided: int
    approval_hours_median: float | None
    approval_hours_p90: float | None


class Stats(BaseModel):
    departments: list[DepartmentStats]
    generated_at: str


def _audit(request: Request, **fields: object) -> None:
    request.state.audit = fields


@router.get("", response_model=list[Offer])
def list_shares(fabric: Caller, state: Annotated[str | None, Query(max_length=16)] = None) -> list[dict]:
    return [offer_dict(o) for o in fabric.shares.offers(state)]


@router.get("/stats", response_model=Stats)
def share_stats(fabric: Caller) -> dict:
    """Per owning department: offers by state and class, requests, approval hours (median, p90),
    grants made through shares, overdue items."""
    return fabric.shares.stats()


@router.get("/overdue", response_model=list[Overdue])
def overdue(fabric: Caller) -> list[dict]:
    return [public_overdue(x) for x in fabric.shares.overdue()]


@router.post("", response_model=Offer, status_code=201)
def create(body: NewOffer, fabric: Caller, request: Request) -> dict:
    _audit(request, share=body.name or body.target, kind=body.kind)
    return offer_dict(fabric.shares.create(body.kind, body.target, name=body.name, title=body.title,
                                           sharing_class=body.sharing_class, open_class=body.open_class,
                                           limits={str(k): v for k, v in body.limits.items()}, reason=body.reason))


@router.get("/{name}", response_model=OfferInfo, response_model_by_alias=True)
def show(name: ShareName, fabric: Caller) -> dict:
    return fabric.shares.show(name)


@router.post("/{name}/requests", response_model=Requested, status_code=201)
def request_share(name: ShareName, body: NewRequest, fabric: Caller, request: Request) -> dict:
    _audit(request, share=name)
    req = fabric.shares.request(name, body.purpose)
    return {"id": req.id, "mode": req.mode, "grants": req.grants, "access_requests": req.access_requests}



@router.post("/{name}/review", response_model=Offer)
def review(name: ShareName, body: ReviewBody, fabric: Caller, request: Request) -> dict:
    _audit(request, share=name, step="review")
    return offer_dict(fabric.shares.review(name, body.reason, approve=body.approve))


@router.post("/{name}/{step}", response_model=Offer)
def step(name: ShareName, step: Literal["submit", "publish", "suspend", "retire"], body: StepBody,
         fabric: Caller, request: Request) -> dict:
    _audit(request, share=name, step=step)
    return offer_dict(getattr(fabric.shares, step)(name, body.reason))
