"""The open-data portal: server-rendered pages (Jinja2, vendored htmx and Pico CSS) under ``/portal``.

Anonymous visitors see the public pages, acting as the principal :data:`PUBLIC` (never an admin):
open assets, search, detail and — if ``public`` was granted — a masked sample through the guarded
read path. Signed-in people (password → session cookie, :mod:`govfabric.auth.passwords`) act as
themselves: access requests, favourites, the SQL workbench, the steward inbox and the auditor page.
Every form carries a CSRF token; every response carries the CSP and other security headers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import sqlglot
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from govfabric.auth import passwords, principals
from govfabric.auth.principals import PUBLIC
from govfabric.catalog.search import MARK_CLOSE, MARK_OPEN
from govfabric.errors import AlreadyExists, AuthenticationRequired, GovfabricError, NotFound, ValidationFailed
from govfabric.sharing_modes.portal import i18n, security

#: the principal anonymous visitors act as (the share process grants published open offers to it)
#: catalog opening classes shown to everyone
OPEN_CLASSES = ("open", "conditional_open")
FACETS = ("theme", "owner_department", "level")
SAMPLE_ROWS = 5
HOT = 8
#: hot searches (§9.4.4.4) are a month's statistic: computed once per process per this many seconds
#: (and when an asset changes), so a burst of new searches shows on the pages within it
HOT_SECONDS = 30
WORKBENCH_ROWS = 200
MAX_FORM = 64 * 1024
_HERE = Path(__file__).parent
STATIC = {"htmx.min.js": "text/javascript", "pico.min.css": "text/css", "portal.css": "text/css"}

router = APIRouter(include_in_schema=False)


def _env(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["marked"] = marked
    return env


def marked(text: str | None) -> Markup:
    """Search highlights: the text escaped, only the search's own marks turned into <mark>."""
    if not text:
        return Markup("")
    out: list[str] = []
    for i, part in enumerate(text.replace(MARK_CLOSE, MARK_OPEN).split(MARK_OPEN)):
        out.append(f"<mark>{escape(part)}</mark>" if i % 2 else str(escape(part)))
    return Markup("".join(out))


_ENVS = {lang: _env(lang) for lang in i18n.LANGS}


# -- plumbing ----------------------------------------------------------------------------------


def _origin(request: Request) -> Any:
    return request.app.state.server.origin


def _me(request: Request) -> str | None:
    return getattr(request.state, "principal", None)


def _as(request: Request) -> Any:
    """The façade for this visitor: the signed-in person, else :data:`PUBLIC`."""
    me = _me(request)
    if me is None:
        ensure_public(_origin(request))
        me = PUBLIC
    return request.app.state.fabrics(me)


_PUBLIC_READY: set[int] = set()


def ensure_public(origin: Any) -> None:
    """The ``public`` principal exists (checked once per server)."""
    if id(origin) in _PUBLIC_READY:
        return
    with origin.store.session() as s:
        principals.ensure_public(s, origin.user)
    _PUBLIC_READY.add(id(origin))


async def form_of(request: Request) -> dict[str, str]:
    """An url-encoded form (the portal posts no files), last value of each field."""
    if request.method != "POST":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM:
        raise ValidationFailed("the form is too large")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("the form could not be read; submit it from the portal page") from None


def _lang(request: Request) -> str:
    return i18n.pick(request.cookies.get(i18n.LANG_COOKIE))


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = _lang(request)
    cookie, new = security.csrf_cookie(request)
    me = _me(request)
    roles = set(request.app.state.fabrics(me).actor.roles) if me else set()
    html = _ENVS[lang].get_template(template).render(
        request=request, me=me, roles=roles, lang=lang, csrf=security.csrf_token(_origin(request), cookie),
        csrf_field=security.CSRF_FIELD, path=request.url.path, **ctx)
    response = HTMLResponse(html, status_code=status)
    if new:
        security.set_cookie(response, request, security.CSRF_COOKIE, cookie)
    return security.secure(response, request)


def redirect(request: Request, to: str) -> Response:
    return security.secure(RedirectResponse(to, status_code=303), request)


def _to_login(request: Request) -> Response:
    return redirect(request, "/portal/login?next=" + quote(request.url.path, safe="/"))


def failed(request: Request, exc: GovfabricError) -> HTMLResponse:
    message, _, hint = str(exc).partition("; ")
    response = render(request, "error.html", exc.status, message=message, hint=hint)
    for k, v in getattr(exc, "headers", {}).items():
        response.headers[k] = v
    return response


async def _run(request: Request, fn: Any, *args: Any, **kw: Any) -> Any:
    return await run_in_threadpool(fn, *args, **kw)


# -- static files and language -------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/portal", status_code=307)


@router.get("/portal/static/{name}")
def static(name: str) -> Response:
    """Vendored files, cached for a year (their names change with their versions)."""
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}")
    response = FileResponse(_HERE / "static" / name, media_type=STATIC[name])
    response.headers["cache-control"] = "public, max-age=31536000, immutable"
    response.headers["x-content-type-options"] = "nosniff"
    return response


@router.get("/portal/lang/{lang}")
def set_lang(request: Request, lang: str, next: str = "/portal") -> Response:
    response = redirect(request, _safe_next(next))
    security.set_cookie(response, request, i18n.LANG_COOKIE, i18n.pick(None, lang), max_age=365 * 86400)
    return response


# -- sessions ----------------------------------------------------------------------------------


@router.get("/portal/login")
def login_page(request: Request, next: str = "/portal") -> Response:
    return render(request, "login.html", next=_safe_next(next))


def _safe_next(target: str) -> str:
    return target if target.startswith("/portal") and "//" not in target and "\\" not in target else "/portal"


@router.post("/portal/login")
async def login(request: Request, form: dict[str, str] = Depends(form_of)) -> Response:
    origin = _origin(request)
    try:
        security.check_csrf(origin, request, form)
        name = form.get("name", "").strip()
        security.throttle_login(request, name)
        client = request.client.host if request.client else None
        token = await _run(request, passwords.login, origin, name, form.get("password", ""), client=client)
    except AuthenticationRequired as exc:
        return render(request, "login.html", 401, next=_safe_next(form.get("next", "/portal")), error=str(exc))
    except GovfabricError as exc:
        return failed(request, exc)
    response = redirect(request, _safe_next(form.get("next", "/portal")))
    security.set_cookie(response, request, passwords.COOKIE, token, max_age=int(passwords.SESSION_TTL.total_seconds()))
    return response


@router.post("/portal/logout")
async def logout(request: Request, form: dict[str, str] = Depends(form_of)) -> Response:
    origin = _origin(request)
    try:
        security.check_csrf(origin, request, form)
        token = request.cookies.get(passwords.COOKIE)
        if token:
            await _run(request, passwords.logout, origin, token)
    except NotFound:
        pass
    except GovfabricError as exc:
        return failed(request, exc)
    response = redirect(request, "/portal")
    response.delete_cookie(passwords.COOKIE, path="/portal")
    return response


# -- public pages --------------------------------------------------------------------------------


def _open(asset: Any) -> bool:
    return getattr(asset, "open_class", None) in OPEN_CLASSES and getattr(asset, "status", "active") == "active"


PAGE_SIZE = 50


def _browse(fabric: Any, chosen: dict[str, str], page: int) -> dict[str, Any]:
    """One page of the open data sets matching ``chosen``, with the facet values over all open ones
    (counted in SQL: the page costs the same over 100 or 100,000 assets)."""
    opened: dict[str, list[str]] = {"open_class": list(OPEN_CLASSES)}
    _, _, counts = fabric.catalog.browse(opened, facets=FACETS, limit=0)
    total, assets, _ = fabric.catalog.browse(opened | {f: [v] for f, v in chosen.items()}, limit=PAGE_SIZE,
                                             offset=(page - 1) * PAGE_SIZE)
    return {"assets": assets, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
            "facets": {f: sorted(counts.get(f, {})) for f in FACETS}, "hot": _hot(fabric),
            "recent": fabric.catalog.recent_searches(8) if fabric.user != PUBLIC else []}


@router.get("/portal")
async def home(request: Request, theme: str | None = None, owner_department: str | None = None,
               level: str | None = None, page: int = Query(1, ge=1, le=100_000)) -> Response:
    chosen = {k: v for k, v in (("theme", theme), ("owner_department", owner_department), ("level", level)) if v}
    try:
        fabric = await _run(request, _as, request)
        data = await _run(request, _browse, fabric, chosen, page)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "home.html", chosen=chosen, **data)


def _search(fabric: Any, q: str) -> list[Any]:
    """The best 20 open hits: the open classes are a filter inside the catalog's search, so closed
    assets never use up its limit."""
    hits = fabric.catalog.search(q, limit=20, open_class=list(OPEN_CLASSES))
    if not hits:
        return []
    from govfabric.catalog.read import active_ids

    with fabric.store.session() as s:  # one query: only active assets
        active = active_ids(s, [h.asset_id for h in hits])
    return [h for h in hits if h.asset_id in active]


def _hot(fabric: Any) -> list[tuple[str, int]]:
    """The hot searches every visitor sees, kept (:func:`~govfabric.catalog.memo.kept_for`): the log
    counts what anyone searched anywhere, so only queries that find open, active assets now are shown
    — a steward's search for a closed data set never names it on the public pages."""
    from govfabric.catalog import memo

    return memo.kept_for(fabric.store, ("portal.hot", HOT), HOT_SECONDS,
                         lambda: fabric.catalog.hot_searches(HOT, list(OPEN_CLASSES)))


@router.get("/portal/search")
async def search(request: Request, q: str = "") -> Response:
    q = q.strip()[:200]
    try:
        fabric = await _run(request, _as, request)
        hits = await _run(request, _search, fabric, q) if q else []
        hot = await _run(request, _hot, fabric)
        recent = await _run(request, fabric.catalog.recent_searches, 8) if _me(request) else []
    except GovfabricError as exc:
        return failed(request, exc)
    template = "results.html" if request.headers.get("hx-request") == "true" else "search.html"
    return render(request, template, q=q, hits=hits, hot=hot, recent=recent)


def _tables_over(fabric: Any, asset_id: str) -> list[str]:
    from govfabric.virtualization.read import table_names_over

    with fabric.store.session() as s:
        return sorted(table_names_over(s, asset_id))


def _quality(fabric: Any, ref: str) -> float | None:
    try:
        runs = fabric.quality.runs(ref, limit=1)
    except GovfabricError:
        return None
    if not runs or not runs[0].rules:
        return None
    return round(100.0 * (runs[0].rules - runs[0].failed) / runs[0].rules, 1)


def _sample(fabric: Any, table: str) -> dict[str, Any] | None:
    """A few rows as this visitor, through the guarded read path (masks and grants apply)."""
    query = sqlglot.exp.select("*").from_(sqlglot.exp.to_table(table)).limit(SAMPLE_ROWS).sql("duckdb")
    try:
        t = fabric.sql(query, dialect="duckdb")
    except GovfabricError:
        return None
    return {"columns": t.column_names, "rows": [list(r.values()) for r in t.to_pylist()]}


def _detail(fabric: Any, asset_id: str) -> dict[str, Any]:
    asset = fabric.catalog.asset(asset_id)
    if not _open(asset) and fabric.user == PUBLIC:
        raise NotFound(f"no open data set {asset_id!r}; browse the portal's list")
    d = fabric.catalog.dictionary(asset.qualified_name)
    tables = _tables_over(fabric, asset.id)
    sample = _sample(fabric, tables[0]) if tables else None
    favourite = fabric.user != PUBLIC and any(a.id == asset.id for a in fabric.catalog.favorites())
    quality = _quality(fabric, asset.qualified_name)
    return {"a": d, "asset": asset, "tables": tables, "sample": sample, "quality": quality,
            "favourite": favourite}


@router.get("/portal/asset/{asset_id}")
async def asset(request: Request, asset_id: str) -> Response:
    try:
        fabric = await _run(request, _as, request)
        data = await _run(request, _detail, fabric, asset_id[:64])
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "asset.html", **data)


# -- signed-in pages ------------------------------------------------------------------------------


async def _signed_post(request: Request, form: dict[str, str]) -> Any:
    """The signed-in façade for a form post, after the CSRF check (raises 403 / 401)."""
    security.check_csrf(_origin(request), request, form)
    if _me(request) is None:
        raise AuthenticationRequired("sign in first")
    return request.app.state.fabrics(_me(request))


async def _act(request: Request, form: dict[str, str], fn: Callable[..., Any], *args: Any,
               then: str | Callable[[Any], Response], **kw: Any) -> Response:
    """The one way a signed-in form post runs: the CSRF check (403) and sign-in (else the login page)
    first, then ``fn(fabric, *args, **kw)`` in the thread pool; a :class:`GovfabricError` is shown as
    the error page, success answers ``then`` — a 303 to that path, or the response it builds from the
    result (a page that shows a secret once)."""
    try:
        fabric = await _signed_post(request, form)
        result = await _run(request, fn, fabric, *args, **kw)
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        return failed(request, exc)
    return redirect(request, then) if isinstance(then, str) else then(result)


@router.post("/portal/asset/{asset_id}/request")
async def request_access(request: Request, asset_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, _request_access, asset_id[:64], form.get("table", ""), form.get("purpose", ""),
                      then="/portal/me")


def _request_access(fabric: Any, asset_id: str, table: str, purpose: str) -> None:
    """Access to one of the asset's own virtual tables (a form cannot name any other table)."""
    if table not in _tables_over(fabric, asset_id):
        raise NotFound("this data set has no such virtual table; reload the page")
    fabric.access.request(table, columns=None, purpose=purpose, until=None)


@router.post("/portal/asset/{asset_id}/favourite")
async def favourite(request: Request, asset_id: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, _favourite, asset_id[:64], bool(form.get("remove")),
                      then=f"/portal/asset/{quote(asset_id[:64])}")


def _favourite(fabric: Any, asset_id: str, remove: bool) -> None:
    """Add or remove a favourite; adding one twice is no error (the button may be pressed twice)."""
    ref = fabric.catalog.asset(asset_id).qualified_name
    if remove:
        fabric.catalog.favorite_remove(ref)
        return
    try:
        fabric.catalog.favorite_add(ref)
    except AlreadyExists:
        pass


@router.get("/portal/me")
async def me_page(request: Request) -> Response:
    if _me(request) is None:
        return _to_login(request)
    fabric = request.app.state.fabrics(_me(request))
    try:
        requests = await _run(request, fabric.access.requests, None, True)
        favourites = await _run(request, fabric.catalog.favorites)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "me.html", requests=requests, favourites=favourites)


def _query(fabric: Any, sql: str) -> Any:
    if not sql.strip():
        raise ValidationFailed("write a SELECT query first")
    return fabric.sql(sql)


@router.get("/portal/sql")
async def workbench(request: Request) -> Response:
    if _me(request) is None:
        return _to_login(request)
    return render(request, "sql.html", sql="", result=None)


@router.post("/portal/sql")
async def run_sql(request: Request, form: dict[str, str] = Depends(form_of)) -> Response:
    sql = form.get("sql", "")[:20000]
    try:
        fabric = await _signed_post(request, form)
        table = await _run(request, _query, fabric, sql)
    except AuthenticationRequired:
        return _to_login(request)
    except GovfabricError as exc:
        if isinstance(exc, security.CsrfRefused):
            return failed(request, exc)
        return render(request, "sql.html", exc.status, sql=sql, result=None, error=str(exc))
    if form.get("format") == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(table.column_names)
        w.writerows(list(r.values()) for r in table.to_pylist())
        response = Response(buf.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                            headers={"content-disposition": 'attachment; filename="result.csv"'})
        return security.secure(response, request)
    rows = [list(r.values()) for r in table.slice(0, WORKBENCH_ROWS).to_pylist()]
    return render(request, "sql.html", sql=sql, result={"columns": table.column_names, "rows": rows,
                                                         "total": table.num_rows})


@router.get("/portal/inbox")
async def inbox(request: Request) -> Response:
    if _me(request) is None:
        return _to_login(request)
    fabric = request.app.state.fabrics(_me(request))
    try:
        fabric.actor.require("steward", "admin", action="open the steward inbox")
        pending = await _run(request, fabric.access.requests, "pending")
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "inbox.html", pending=pending)


@router.post("/portal/inbox/{request_id}/{decision}")
async def decide(request: Request, request_id: int, decision: str, form: dict[str, str] = Depends(form_of)) -> Response:
    return await _act(request, form, _decide, request_id, decision, form.get("reason", "").strip() or None,
                      then="/portal/inbox")


def _decide(fabric: Any, request_id: int, decision: str, reason: str | None) -> None:
    if decision == "approve":
        fabric.access.approve(request_id, reason=reason)
    elif decision == "reject":
        fabric.access.reject(request_id, reason or "")
    else:
        raise NotFound(f"no decision {decision!r}; approve or reject")


@router.get("/portal/audit")
async def audit_page(request: Request) -> Response:
    if _me(request) is None:
        return _to_login(request)
    fabric = request.app.state.fabrics(_me(request))
    try:
        fabric.actor.require("auditor", "admin", action="verify the audit trail")
        report = await _run(request, fabric.audit.verify)
    except GovfabricError as exc:
        return failed(request, exc)
    return render(request, "audit.html", report=report)
