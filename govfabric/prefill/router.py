"""HTTP routes of the prefill services: ``POST /api/v1/prefill/{item}`` (fill a form for a
consenting applicant), ``GET /api/v1/prefill/history`` (who read what of an applicant, when) and
``GET /api/v1/items/{item}`` (an item's spec). The caller is the authenticated principal; the
applicant's identifier travels in the body or a query parameter and is never logged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["prefill"], responses=ERROR_RESPONSES)
ITEM = Path(..., pattern=r"^[a-z][a-z0-9_]{0,63}$", description="the service item's name")


class PrefillRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    applicant_id: str = Field(..., min_length=1, max_length=64,
                              description="the applicant's resident ID number or unified social credit code")
    scenario: str | None = Field(None, max_length=64, description="the scenario selecting the materials")


class Provenance(BaseModel):
    department: str | None = None
    table: str
    column: str
    as_of: str


class FieldValue(BaseModel):
    name: str
    label: str
    component: str
    required: bool
    shared: bool
    editable: bool
    status: str = Field(..., description="filled | not_found | unavailable | applicant")
    value: Any = None
    display: Any = None
    mask: str | None = None
    reason: str | None = None
    provenance: Provenance | None = None


class RuleResult(BaseModel):
    rule: str
    holds: bool | None = None
    reason: str | None = None


class Eligibility(BaseModel):
    eligible: bool
    rules: list[RuleResult]


class MaterialState(BaseModel):
    name: str
    label: str
    channel: str
    type: str
    form: str
    copies: int
    department: str | None = None
    status: str = Field(..., description="attached | needed | deferred")
    reason: str | None = None
    due: str | None = None
    licence: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None


class PrefillResult(BaseModel):
    item: str
    version: int
    title: str
    call_id: str
    principal: str
    consent_id: str | None = None
    fields: list[FieldValue]
    eligibility: Eligibility
    scenario: str | None = None
    materials: list[MaterialState]


class HistoryEntry(BaseModel):
    call_id: str
    at: str
    item: str
    version: int
    by: str
    principal: str
    fields: list[str]
    licences: list[str]
    status: str
    reason: str | None = None


class ItemSpecOut(BaseModel):
    name: str
    version: int
    title: str
    sha256: str
    created_by: str
    created_at: str
    spec: dict[str, Any]
    consent_scope: list[str]


@router.post("/prefill/{item}", response_model=PrefillResult, summary="Prefill an item's form and materials")
def prefill(body: PrefillRequest, request: Request, item: str = ITEM,
            fabric: Fabric = Depends(current_fabric)) -> PrefillResult:
    request.state.audit = {"item": item}
    return PrefillResult.model_validate(fabric.prefill.run(item, body.applicant_id, scenario=body.scenario))


@router.get("/prefill/history", response_model=list[HistoryEntry], summary="An applicant's prefill history")
def history(applicant: str | None = Query(None, min_length=1, max_length=64,
                                          description="resident ID number or credit code (an applicant: their own "
                                                      "when left out)"),
            fabric: Fabric = Depends(current_fabric)) -> list[HistoryEntry]:
    return [HistoryEntry.model_validate(h) for h in fabric.prefill.history(applicant)]


@router.get("/items/{item}", response_model=ItemSpecOut, summary="A service item's spec (latest version)")
def item_spec(item: str = ITEM, fabric: Fabric = Depends(current_fabric)) -> ItemSpecOut:
    return ItemSpecOut.model_validate(fabric.prefill.describe(item))
