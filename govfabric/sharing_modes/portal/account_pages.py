"""The signed-in person's account pages: ordering a data service and their subscriptions, their
personal access tokens (and, for stewards and admins, the apps), and lineage impact for auditors.

Secrets — a new token, a subscription's webhook secret — are rendered once, on the page that answers
the form that made them, and never again (the store keeps only digests or sealed copies). Every
page carries ``Cache-Control: no-store`` (:data:`security.HEADERS`), so a browser keeps no copy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from govfabric.auth import apps, tokens
from govfabric.errors import GovfabricError, NotFound
from govfabric.sharing_modes.portal.asset_pages import _asset, _lineage
from govfabric.sharing_modes.portal.router import (
    _act,
    _me,
    _run,
    _tables_over,
    _to_login,
    failed,
    form_of,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
REF_MAX = 256


def _signed(request: Request) -> Any:
    me = _me(request)
    return request.app.state.fabrics(me) if me else None


# -- data service ---------------------------------------------------------------------------------


def _columns(text: str) -> list[str] | None:
    """``a, b c`` → ``["a", "b", "c"]``; empty → every visible column."""
    cols = [c for c in text.replace(",", " ").split() if c]
    return cols or None


def _order_form(fabric: Any, asset_id: str) -> dict[str, Any]:
    asset = _asset(fabric, asset_id)
    tables = _tables_over(fabric, asset.id)
    if not tables:
        raise NotFound(f"data set {asset.qualified_name} has no virtual table to order a data service from; "
                       "ask its steward to create one")
    return {"asset": asset, "tables": tables}


@router.get("/portal/asset/{asset_id}/subscribe")
async def order_page(request: Request, asset_id: str) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        data = await _run(request, _order_form, fabric, asset_id[:64])
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "subscribe.html", **data)


@router.post("/portal/asset/{asset_id}/subscribe")
async def order(request: Request, asset_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, _order, asset_id[:64], form, then=lambda done: _ordered(request, *done))


def _order(fabric: Any, asset_id: str, form: dict[str, str]) -> tuple[Any, str | None]:
    table = form.get("table", "")
    if table not in _order_form(fabric, asset_id)["tables"]:
        raise NotFound("this data set has no such virtual table; reload the page")
    return fabric.subscriptions.order(
        table, columns=_columns(form.get("columns", "")), filter=form.get("filter", "").strip() or None,
        purpose=form.get("purpose", ""), push_url=form.get("push_url", "").strip() or None)


def _ordered(request: Request, sub: Any, secret: str | None) -> Response:
    """A push subscription's webhook secret is shown on this page only; otherwise to the list."""
    if secret is None:
        return redirect(request, "/portal/subscriptions")
    return render(request, "subscribed.html", sub=sub, secret=secret)


def _subscriptions(fabric: Any) -> list[dict[str, Any]]:
    """The person's own subscriptions with their last delivery (if any)."""
    out = []
    for sub in fabric.subscriptions.list(mine=True):
        deliveries = fabric.subscriptions.deliveries(sub.id)
        out.append({"sub": sub, "last": deliveries[-1] if deliveries else None})
    return out


@router.get("/portal/subscriptions")
async def subscriptions_page(request: Request) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        items = await _run(request, _subscriptions, fabric)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "subscriptions.html", items=items)


# -- keys and apps ----------------------------------------------------------------------------------


@router.get("/portal/keys")
async def keys_page(request: Request) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        mine = await _run(request, tokens.list_tokens, fabric)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "keys.html", tokens=mine, new_token=None)


@router.post("/portal/keys")
async def create_key(request: Request, form: dict[str, str] = Depends(form_of)) -> Response:
    """A new token, shown on this response only (never stored in plain, never rendered again)."""
    return await _act(request, form, _create_key, form,
                      then=lambda done: render(request, "keys.html", tokens=done[1], new_token=done[0]))


def _create_key(fabric: Any, form: dict[str, str]) -> tuple[str, list[Any]]:
    expires = tokens.parse_duration(form.get("expires", "") or "30d")
    token, _ = tokens.create(fabric, name=form.get("name", "").strip()[:128] or None, expires=expires)
    return token, tokens.list_tokens(fabric)


@router.post("/portal/keys/{token_id}/revoke")
async def revoke_key(request: Request, token_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, tokens.revoke, token_id[:64], then="/portal/keys")


@router.get("/portal/apps")
async def apps_page(request: Request) -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    try:
        listed = await _run(request, apps.list_apps, fabric)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "apps.html", apps=listed)


@router.post("/portal/apps/{name}/{action}")
async def app_active(request: Request, name: str, action: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, _app_active, name[:128], action, then="/portal/apps")


def _app_active(fabric: Any, name: str, action: str) -> None:
    if action not in ("disable", "enable"):
        raise NotFound(f"no app action {action!r}; disable or enable")
    apps.set_active(fabric, name, action == "enable")


# -- lineage impact -------------------------------------------------------------------------------


def _impact(fabric: Any, ref: str) -> dict[str, Any]:
    fabric.actor.require("auditor", "steward", "admin", action="see lineage impact")
    return {"impact": fabric.lineage.impact(ref), "svg": _lineage(fabric, ref)}


@router.get("/portal/lineage")
async def lineage_page(request: Request, ref: str = "") -> Response:
    fabric = _signed(request)
    if fabric is None:
        return _to_login(request)
    ref = ref.strip()[:REF_MAX]
    try:
        fabric.actor.require("auditor", "steward", "admin", action="see lineage impact")
        data = await _run(request, _impact, fabric, ref) if ref else {"impact": None, "svg": None}
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "lineage.html", ref=ref, **data)
