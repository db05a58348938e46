"""The CKAN action API through the whole server app, anonymously: only open assets, CKAN's
envelopes and status codes, and nothing else of the workspace opened to anonymous callers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from govfabric.server.middleware import PUBLIC_PATHS
from govfabric.sharing_modes.catalog_api.service import OPEN, organization_name, package_name
from tests.sharing_modes.catalog_api.conftest import CLOSED_ASSET, OPEN_ASSET


def _ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["help"].endswith(r.url.path.rsplit("/", 1)[-1])
    return body["result"]


def _err(r: Any, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["__type"] == kind, body
    assert "Traceback" not in r.text
    return str(body["error"]["message"])


def _open_assets(f: Any) -> list[Any]:
    return [a for a in f.catalog.assets(limit=None) if a.open_class in OPEN]


def test_package_list_is_exactly_the_open_assets(open_client: TestClient, published: Any) -> None:
    opened = _open_assets(published)
    assert 0 < len(opened) < len(published.catalog.assets(limit=None))  # the demo has closed assets too
    names = _ok(open_client.get("/api/3/action/package_list"))
    assert names == sorted(package_name(a.qualified_name, a.id) for a in opened)
    assert _ok(open_client.post("/api/action/package_list", json={"limit": 2, "offset": 1})) == names[1:3]


def test_package_show_by_name_id_and_qualified_name(open_client: TestClient, published: Any) -> None:
    asset = published.catalog.asset(OPEN_ASSET)
    for ref in (package_name(asset.qualified_name, asset.id), asset.id, asset.qualified_name):
        pkg = _ok(open_client.get("/api/3/action/package_show", params={"id": ref}))
        assert pkg["id"] == asset.id and pkg["title"] == asset.cn_name
    assert pkg["organization"]["title"] == asset.owner_department
    assert pkg["owner_org"] == organization_name(asset.owner_department)
    kinds = {(r["format"], r["resource_type"]) for r in pkg["resources"]}
    assert kinds == {("CSV", "download"), ("PARQUET", "download"), ("API", "query_service")}
    assert any(r["url"].endswith("/api/v1/query/ent_lookup") for r in pkg["resources"])
    assert {"key": "open_class", "value": "conditional_open"} in pkg["extras"]


def test_nothing_not_open_leaks(open_client: TestClient, published: Any) -> None:
    closed = [a for a in published.catalog.assets(limit=None) if a.open_class not in OPEN]
    assert closed and CLOSED_ASSET in {a.qualified_name for a in closed}
    for a in closed:
        for ref in (a.id, a.qualified_name, package_name(a.qualified_name, a.id)):
            _err(open_client.get("/api/3/action/package_show", params={"id": ref}), 404, "Not Found Error")
    case = published.catalog.asset(CLOSED_ASSET)
    found = _ok(open_client.get("/api/3/action/package_search", params={"q": case.cn_name, "rows": 1000}))
    assert case.id not in {p["id"] for p in found["results"]}
    everything = json.dumps([_ok(open_client.get("/api/3/action/package_search", params={"rows": 1000})),
                             _ok(open_client.get("/api/3/action/organization_list", params={"all_fields": "true"})),
                             _ok(open_client.get("/api/3/action/tag_list"))], ensure_ascii=False)
    for a in closed:
        assert a.id not in everything and a.qualified_name not in everything
    assert "market.cases" not in everything  # a file offer over a closed asset is no resource either


def test_search_in_chinese_with_filters_sort_and_facets(open_client: TestClient, published: Any) -> None:
    asset = published.catalog.asset(OPEN_ASSET)
    org = organization_name(asset.owner_department)
    found = _ok(open_client.get("/api/3/action/package_search", params={"q": "企业"}))
    assert found["count"] >= 1 and asset.id in {p["id"] for p in found["results"]}
    by_org = _ok(open_client.post("/api/3/action/package_search", json={
        "fq": f'organization:{org} theme:市场监管', "sort": "name desc", "facet.field": ["organization", "tags"]}))
    assert by_org["count"] >= 1
    assert all(p["owner_org"] == org for p in by_org["results"])
    assert [p["name"] for p in by_org["results"]] == sorted((p["name"] for p in by_org["results"]), reverse=True)
    assert by_org["facets"]["organization"] == {org: by_org["count"]}
    item = by_org["search_facets"]["organization"]["items"][0]
    assert item["display_name"] == asset.owner_department
    page = _ok(open_client.get("/api/3/action/package_search", params={"rows": 1, "start": 1, "sort": "name asc"}))
    assert page["count"] == len(_open_assets(published)) and len(page["results"]) == 1
    assert _ok(open_client.get("/api/3/action/package_search", params={"fq": 'tags:"no such tag"'}))["count"] == 0


def test_organizations_and_tags(open_client: TestClient, published: Any) -> None:
    opened = _open_assets(published)
    depts = {a.owner_department for a in opened}
    assert set(_ok(open_client.get("/api/3/action/organization_list"))) == {organization_name(d) for d in depts}
    full = _ok(open_client.get("/api/3/action/organization_list", params={"all_fields": "true"}))
    assert {o["title"] for o in full} == depts
    assert sum(o["package_count"] for o in full) == len(opened)
    assert _ok(open_client.get("/api/3/action/tag_list")) == sorted({t for a in opened for t in a.tags})


def test_bad_parameters_get_ckans_error_envelope(open_client: TestClient) -> None:
    api = "/api/3/action"
    _err(open_client.get(f"{api}/package_show"), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"rows": "many"}), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"rows": "100000"}), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"fq": "secret_field:x"}), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"fq": 'tags:"unclosed'}), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"sort": "password desc"}), 409, "Validation Error")
    _err(open_client.get(f"{api}/package_search", params={"facet.field": "[1]"}), 409, "Validation Error")
    _err(open_client.get(f"{api}/organization_list", params={"all_fields": "maybe"}), 409, "Validation Error")
    _err(open_client.post(f"{api}/package_search", content=b"{not json",
                          headers={"content-type": "application/json"}), 400, "Bad request - JSON Error")
    _err(open_client.post(f"{api}/package_search", json=[1]), 400, "Bad request - JSON Error")
    _err(open_client.get(f"{api}/package_create"), 400, "Bad request - Action name not known")
    _err(open_client.get(f"{api}/package_show", params={"id": "nope"}), 404, "Not Found Error")


def test_anonymous_callers_reach_only_the_public_paths(open_client: TestClient) -> None:
    """Every other route still needs credentials; the open-data routes are all under PUBLIC_PATHS."""
    for path in ("/api/v1/datasets", "/api/v1/query", "/api/v1/whoami", "/api/v1/datasets/market.cases"):
        r = open_client.get(path)
        assert r.status_code == 401, (path, r.text)
    for route in open_client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if "catalog_api" in getattr(getattr(route, "endpoint", None), "__module__", ""):
            assert path.startswith(PUBLIC_PATHS), path


def test_the_routes_refuse_a_request_the_middleware_did_not_mark_public(published: Any) -> None:
    """Mounted without the service-plane middleware, the open-data routes open nothing."""
    from govfabric.server import errors
    from govfabric.sharing_modes.catalog_api.router import router

    app = FastAPI()
    errors.install(app)
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/api/3/action/package_list").status_code == 403
        assert c.get("/catalog.ttl").status_code == 403


def test_anonymous_callers_are_rate_limited_and_audited(fresh_published: Any) -> None:
    """Anonymous open-data calls count against the per-caller limit (per client address) and each is
    an ``api.call`` audit event of ``anonymous`` with parameter names only."""
    from sqlalchemy import select

    from govfabric.auth.models import AuditEvent
    from govfabric.fabric import Fabric
    from govfabric.server.app import create_app

    origin = Fabric(fresh_published.settings.model_copy(update={"rate_limit": "3/minute"}), fresh_published.user)
    with TestClient(create_app(origin), raise_server_exceptions=False) as c:
        codes = [c.get("/api/3/action/tag_list", params={"query": "secret-value"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    with fresh_published.store.session() as s:
        calls = [e for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "api.call"))
                 if e.target == "api:/api/3/action/tag_list"]
    assert len(calls) == 4 and {e.actor for e in calls} == {"anonymous"}
    assert calls[0].details["params"] == ["query"] and "secret-value" not in json.dumps([e.details for e in calls])
