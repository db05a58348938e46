"""An asset page's ways in, loaded into the detail page by htmx (a plain link without JavaScript):
the query services over the asset's virtual tables that the visitor may call, the datasets offered
as files (a form makes the visitor's own signed, expiring download link), the Delta Sharing
endpoint, and — for signed-in people — a lineage picture (the lineage module's own SVG)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from govfabric.auth.principals import PUBLIC
from govfabric.errors import GovfabricError, NotFound
from govfabric.sharing_modes.portal.router import (
    _act,
    _as,
    _open,
    _run,
    _tables_over,
    failed,
    form_of,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
LINEAGE_DEPTH = 2
LINK_TTL = "15m"


def _asset(fabric: Any, asset_id: str) -> Any:
    asset = fabric.catalog.asset(asset_id)
    if not _open(asset) and fabric.user == PUBLIC:
        raise NotFound(f"no open data set {asset_id!r}; browse the portal's list")
    return asset


def _lineage(fabric: Any, ref: str) -> Markup | None:
    """The asset's lineage two steps up and down as inline SVG (escaped by the renderer), or None."""
    from govfabric.governance.lineage.render import to_svg

    try:
        nodes, edges, _, _ = fabric.lineage._subgraph(ref, None, LINEAGE_DEPTH)
    except GovfabricError:
        return None
    return Markup(to_svg(nodes, edges)) if nodes else None  # to_svg escapes every label


def _links(fabric: Any, asset_id: str) -> dict[str, Any]:
    asset = _asset(fabric, asset_id)
    tables = set(_tables_over(fabric, asset.id))
    services = [r for r in fabric.query_api.list(callable_only=True) if r.table_name in tables]
    datasets = [o for o in fabric.datasets.offers() if o.name in tables]
    lineage = _lineage(fabric, asset.qualified_name) if fabric.user != PUBLIC else None
    return {"asset": asset, "tables": sorted(tables), "services": services, "datasets": datasets,
            "lineage": lineage}


@router.get("/portal/asset/{asset_id}/links")
async def links(request: Request, asset_id: str) -> Response:
    try:
        fabric = await _run(request, _as, request)
        data = await _run(request, _links, fabric, asset_id[:64])
    except GovfabricError as exc:
        return failed(request, exc)
    fragment = request.headers.get("hx-request") == "true"
    return render(request, "asset_links.html", fragment=fragment, **data)


@router.post("/portal/asset/{asset_id}/download")
async def download(request: Request, asset_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    """The visitor's own signed link to a dataset file (their grant's rows and masks), then there."""
    return await _act(request, form, _download, asset_id[:64], form.get("dataset", ""), form.get("format", ""),
                      then=lambda link: redirect(request, link.url))


def _download(fabric: Any, asset_id: str, name: str, fmt: str) -> Any:
    """A link only to a dataset file offered over this asset's own tables."""
    if name not in {d.name for d in _links(fabric, asset_id)["datasets"]}:
        raise NotFound("this data set offers no such dataset file; reload the page")
    return fabric.datasets.link(name, fmt, LINK_TTL)
