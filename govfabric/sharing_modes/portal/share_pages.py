"""The portal's sharing-process pages (§8.4.2.10): offers by state, a share's page with its history,
the lifecycle steps (submit / review / publish / suspend / retire, each with a reason and a CSRF
token), requests on published shares, and the per-department statistics as server-rendered SVG
bar charts (no JavaScript; every bar carries its label and number as text) beside the table.

Everything runs through ``fabric.shares`` as the visitor: the service decides who may see and do
what; the role check here only answers early (403) before a share's name is even looked up."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from govfabric.catalog import taxonomy
from govfabric.errors import GovfabricError, NotFound
from govfabric.sharing_modes.portal.router import (
    _act,
    _as,
    _me,
    _run,
    _to_login,
    failed,
    form_of,
    render,
)
from govfabric.sharing_modes.process.service import ACTIONS, STATES

router = APIRouter(include_in_schema=False)

#: the statistics charted, in order: (key in a department row, English title)
CHARTS = (("offers", "Offers"), ("requests", "Requests"), ("grants", "Grants made (usage)"),
          ("overdue", "Overdue items"), ("approval_hours_median", "Median hours to decide"))
#: each lifecycle step's button (English message ids; the Chinese catalog names them)
STEPS = {"submit": "Submit for review", "approve": "Pass the review", "return": "Send back", "publish": "Publish",
         "suspend": "Suspend", "retire": "Retire"}
BAR_W, ROW_H, LABEL_W, NUM_W = 320, 26, 220, 70


def _class_label(facet: str, key: str | None) -> str:
    return taxonomy.label(facet, key) or (key or "—")


def _actions(roles: set[str], state: str) -> list[str]:
    """The lifecycle steps this visitor's roles may take from ``state`` (the service re-checks)."""
    return [a for a, (leaves, _, role) in ACTIONS.items()
            if state in leaves and (role in roles or "admin" in roles)]


@router.get("/portal/shares")
async def shares_page(request: Request, state: str | None = None) -> Response:
    state = state if state in STATES else None
    try:
        fabric = await _run(request, _as, request)
        offers = await _run(request, fabric.shares.offers, state)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "shares.html", offers=offers, state=state, states=STATES, label=_class_label)


@router.get("/portal/shares/stats")
async def stats_page(request: Request) -> Response:
    if _me(request) is None:
        return _to_login(request)
    fabric = request.app.state.fabrics(_me(request))
    try:
        stats = await _run(request, fabric.shares.stats)
    except GovfabricError as exc:
        return failed(request, exc)
    rows = stats["departments"]
    return render(request, "share_stats.html", rows=rows, charts=[chart(rows, k, t) for k, t in CHARTS],
                  generated_at=stats["generated_at"])


def chart(rows: list[dict[str, Any]], key: str, title: str) -> dict[str, Any]:
    """One horizontal bar chart's geometry: a bar per department, width proportional to its value."""
    values = [(r["department"], r.get(key)) for r in rows]
    top = max((v for _, v in values if v), default=0) or 1
    bars = [{"label": d, "value": "—" if v is None else (v if isinstance(v, int) else round(v, 1)),
             "y": i * ROW_H, "w": round(BAR_W * (v or 0) / top, 1)} for i, (d, v) in enumerate(values)]
    return {"key": key, "title": title, "bars": bars, "height": max(len(bars), 1) * ROW_H + 4,
            "width": LABEL_W + BAR_W + NUM_W, "label_w": LABEL_W, "bar_w": BAR_W}


@router.get("/portal/shares/{name}")
async def share_page(request: Request, name: str) -> Response:
    try:
        fabric = await _run(request, _as, request)
        info = await _run(request, fabric.shares.show, name[:256])
    except GovfabricError as exc:
        return failed(request, exc)
    roles = set(fabric.actor.roles) if _me(request) else set()
    return render(request, "share.html", s=info, actions=_actions(roles, info["state"]), steps=STEPS,
                  label=_class_label)


@router.post("/portal/shares/{name}/request")
async def request_share(request: Request, name: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, lambda f: f.shares.request(name[:256], form.get("purpose", "")),
                      then=f"/portal/shares/{quote(name[:256])}")


def _step(fabric: Any, name: str, action: str, reason: str) -> None:
    if action not in ACTIONS:
        raise NotFound(f"no step {action!r}; one of {', '.join(ACTIONS)}")
    fabric.actor.require(ACTIONS[action][2], action=f"{action} a share")
    shares = fabric.shares
    call = {"submit": shares.submit, "publish": shares.publish, "suspend": shares.suspend,
            "retire": shares.retire, "approve": lambda n, r: shares.review(n, r, approve=True),
            "return": lambda n, r: shares.review(n, r, approve=False)}[action]
    call(name, reason)


@router.post("/portal/shares/{name}/{action}")
async def step(request: Request, name: str, action: str, form: dict[str, str] = Depends(form_of)) -> Response:
    """One lifecycle step with its reason; ``approve``/``return`` are the reviewer's two outcomes."""
    return await _act(request, form, _step, name[:256], action, form.get("reason", ""),
                      then=f"/portal/shares/{quote(name[:256])}")
