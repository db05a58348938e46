"""The CKAN-compatible read API (``/api/3/action/…``, and CKAN's unversioned ``/api/action/…``) and
the DCAT-AP 3 catalogue (``/catalog.ttl``, ``/catalog.jsonld``): public open-data metadata.

These are the only paths the service-plane middleware lets anonymous callers use
(``PUBLIC_PATHS`` in ``govfabric/server/middleware.py``); :func:`open_catalog` refuses a request the
middleware did not mark public, so mounting these routes elsewhere cannot open them. Answers use
CKAN's envelope ``{help, success, result}`` and its error envelope ``{success: false, error:
{__type, message}}`` with CKAN's status codes, because harvesters (``ckanapi``) parse exactly that.
Parameters come from the query string (GET) or a JSON object body (POST), as in CKAN."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from govfabric.errors import AccessDenied, GovfabricError, ValidationFailed
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.catalog_api import ckan
from govfabric.sharing_modes.catalog_api.service import MAX_ROWS, OpenCatalog, Query, parse_fq, parse_sort

#: CKAN's error types by HTTP status (what ``ckanapi`` turns back into its exceptions)
_TYPES = {400: "Bad request", 403: "Authorization Error", 404: "Not Found Error", 409: "Validation Error"}
FACETABLE = ("organization", "tags", "theme", "open_class", "res_format")


class CkanEnvelope(BaseModel):
    """CKAN's answer: ``result`` on success, ``error`` (``__type``, ``message``) on failure."""

    help: str
    success: bool
    result: Any = None
    error: dict[str, Any] | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    **{s: {"model": CkanEnvelope, "description": t} for s, t in {**_TYPES, 500: "Internal Server Error"}.items()},
    **{s: ERROR_RESPONSES[s] for s in (401, 429)}}  # refused by the middleware before the action
router = APIRouter()
#: CKAN's versioned path, and its unversioned alias (ckanapi's default) left out of the OpenAPI description.
#: Routes are registered under both with full paths, not as a nested router: the service plane names a
#: request by its route template before routing it (see ``server.middleware._route``).
PREFIXES = (("/api/3/action", True), ("/api/action", False))


def open_catalog(request: Request) -> OpenCatalog:
    """The workspace's open catalogue, for a request the middleware marked public."""
    if not getattr(request.state, "public", False):
        raise AccessDenied("the open-data API is served only under /api/3/action and /catalog.*")
    return OpenCatalog(request.app.state.server.origin, str(request.base_url))


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise _Bad("Bad request - JSON Error", "the body is not JSON; send a JSON object") from None
            if not isinstance(body, dict):
                raise _Bad("Bad request - JSON Error", "the body must be a JSON object of parameters")
            params.update(body)
    return params


class _Bad(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _envelope(request: Request, action: str, status: int, body: dict[str, Any]) -> JSONResponse:
    help_url = f"{str(request.base_url).rstrip('/')}/api/3/action/help_show?name={action}"
    return JSONResponse({"help": help_url, **body}, status_code=status)


async def _answer(request: Request, action: str, run: Callable[[dict[str, Any]], Any]) -> JSONResponse:
    """Run an action on its parameters; every failure becomes CKAN's error envelope."""
    try:
        params = await _params(request)
        result = run(params)
    except _Bad as exc:
        return _envelope(request, action, 400, {"success": False, "error": {"__type": exc.kind, "message": str(exc)}})
    except GovfabricError as exc:
        status = 409 if exc.status in (400, 409, 422) else exc.status if exc.status in _TYPES else 500
        kind = _TYPES.get(status, "Internal Server Error")
        request.state.error_code = kind.lower().replace(" ", "_")
        error: dict[str, Any] = {"__type": kind, "message": f"{kind}: {exc}"}
        return _envelope(request, action, status, {"success": False, "error": error})
    if isinstance(result, list):
        request.state.audit = {"results": len(result)}
    return _envelope(request, action, 200, {"success": True, "result": result})


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}")
    return value


def _str(params: dict[str, Any], name: str, default: str = "") -> str:
    raw = params.get(name, default)
    if raw is None:
        return default
    if not isinstance(raw, str) or len(raw) > 1000:
        raise ValidationFailed(f"{name} must be text of at most 1000 characters")
    return raw


def _bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name, False)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", ""):
        return raw.lower() in ("true", "1")
    raise ValidationFailed(f"{name} must be true or false")


def _facet_fields(params: dict[str, Any]) -> list[str]:
    raw = params.get("facet.field")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return list(FACETABLE) if _bool(params, "facet") else []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationFailed('facet.field must be a JSON list, e.g. ["organization", "tags"]') from None
    if not isinstance(raw, list) or not all(isinstance(f, str) and f in FACETABLE for f in raw):
        raise ValidationFailed(f"facet.field must be a list of {', '.join(FACETABLE)}")
    return list(raw)


def _action(path: str, summary: str, include_in_schema: bool = True) -> Callable[[Any], Any]:
    """Register an action for GET (query string) and POST (JSON body), each with its operation id."""
    def register(endpoint: Any) -> Any:
        for prefix, documented in PREFIXES:
            for method in ("GET", "POST"):
                router.add_api_route(prefix + path, endpoint, methods=[method], summary=summary,
                                     response_model=CkanEnvelope, tags=["open data (CKAN)"], responses=_ERRORS,
                                     operation_id=f"ckan_{endpoint.__name__}_{method.lower()}"
                                                  + ("" if documented else "_alias"),
                                     include_in_schema=include_in_schema and documented)
        return endpoint
    return register


@_action("/package_list", "Names of the open datasets")
async def package_list(request: Request, cat: OpenCatalog = Depends(open_catalog)) -> JSONResponse:
    def run(p: dict[str, Any]) -> list[str]:
        limit, offset = _int(p, "limit", MAX_ROWS * 100, 0, MAX_ROWS * 100), _int(p, "offset", 0, 0, 10**9)
        return [x.name for x in cat.packages()][offset:offset + limit]

    return await _answer(request, "package_list", run)


@_action("/package_search", "Search open datasets (q, fq, rows, start, sort, facets)")
async def package_search(request: Request, cat: OpenCatalog = Depends(open_catalog)) -> JSONResponse:
    def run(p: dict[str, Any]) -> dict[str, Any]:
        query = Query(q=_str(p, "q"), fq=parse_fq(_str(p, "fq")), rows=_int(p, "rows", 10, 0, MAX_ROWS),
                      start=_int(p, "start", 0, 0, 10**9), sort=parse_sort(_str(p, "sort")),
                      facet_fields=_facet_fields(p))
        count, page, facets = cat.search(query)
        titles = {x.organization: x.department for x in page if x.organization and x.department}
        titles |= {name: dept for name, (dept, _) in cat.organizations().items()} if "organization" in facets else {}
        request.state.audit = {"results": len(page)}
        return {"count": count, "sort": _str(p, "sort") or "score desc, metadata_modified desc",
                "results": [ckan.package_dict(x) for x in page], "facets": facets,
                "search_facets": ckan.search_facets(facets, titles)}

    return await _answer(request, "package_search", run)


@_action("/package_show", "One open dataset by id or name")
async def package_show(request: Request, cat: OpenCatalog = Depends(open_catalog)) -> JSONResponse:
    def run(p: dict[str, Any]) -> dict[str, Any]:
        ref = _str(p, "id") or _str(p, "name")
        if not ref:
            raise ValidationFailed("id: Missing value; pass id=<package id or name>")
        return ckan.package_dict(cat.show(ref))

    return await _answer(request, "package_show", run)


@_action("/organization_list", "Departments publishing open datasets")
async def organization_list(request: Request, cat: OpenCatalog = Depends(open_catalog)) -> JSONResponse:
    def run(p: dict[str, Any]) -> list[Any]:
        limit, offset = _int(p, "limit", 1000, 0, 1000), _int(p, "offset", 0, 0, 10**9)
        orgs = list(cat.organizations().items())[offset:offset + limit]
        if _bool(p, "all_fields"):
            return [ckan.organization_dict(dept, n) for _, (dept, n) in orgs]
        return [name for name, _ in orgs]

    return await _answer(request, "organization_list", run)


@_action("/tag_list", "Tags of open datasets")
async def tag_list(request: Request, cat: OpenCatalog = Depends(open_catalog)) -> JSONResponse:
    def run(p: dict[str, Any]) -> list[Any]:
        tags = cat.tags(_str(p, "query") or None)
        if _bool(p, "all_fields"):
            return [{"id": t, "name": t, "vocabulary_id": None} for t in tags]
        return tags

    return await _answer(request, "tag_list", run)


@_action("/{action}", "Any other action: not provided here", include_in_schema=False)
async def unknown_action(request: Request, action: str) -> JSONResponse:
    def run(_: dict[str, Any]) -> None:
        raise _Bad("Bad request - Action name not known", f"action {action[:64]!r} is not provided; this catalogue "
                   "answers package_list, package_search, package_show, organization_list and tag_list")

    return await _answer(request, action[:64], run)


_MEDIA = {"ttl": "text/turtle; charset=utf-8", "jsonld": "application/ld+json"}


@router.get("/catalog.{fmt}", tags=["open data (DCAT-AP 3)"], response_class=Response,
            summary="The open catalogue as DCAT-AP 3 (ttl: Turtle, jsonld: JSON-LD with an inline context)",
            responses={**ERROR_RESPONSES, 200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}}})
def dcat_catalog(fmt: str, cat: OpenCatalog = Depends(open_catalog)) -> Response:
    from govfabric.sharing_modes.catalog_api.dcat import serialize

    if fmt not in _MEDIA:
        from govfabric.errors import NotFound

        raise NotFound(f"no catalogue format {fmt!r}; use /catalog.ttl or /catalog.jsonld")
    return Response(serialize(cat, "turtle" if fmt == "ttl" else "json-ld"), media_type=_MEDIA[fmt])

