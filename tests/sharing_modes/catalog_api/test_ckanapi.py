"""The real ``ckanapi`` client (what CKAN harvesters use) against a ``govfabric serve`` process,
anonymously: it lists, searches in Chinese and shows open datasets, sees nothing else, and turns
bad parameters into its own exceptions (CKAN's error envelope parsed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govfabric.sharing_modes.catalog_api.service import OPEN, package_name
from tests.infra.serving import serving
from tests.sharing_modes.catalog_api.conftest import CLOSED_ASSET, OPEN_ASSET

ckanapi = pytest.importorskip("ckanapi")


@pytest.fixture
def server(published: Any, tmp_path: Path) -> Iterator[str]:
    with serving(published.settings.home, tmp_path / "serve.log") as served:
        yield served.url
    assert "Traceback" not in served.output()


def test_ckanapi_lists_searches_and_shows_only_open_datasets(server: str, published: Any) -> None:
    opened = [a for a in published.catalog.assets(limit=None) if a.open_class in OPEN]
    asset, closed = published.catalog.asset(OPEN_ASSET), published.catalog.asset(CLOSED_ASSET)
    for get_only in (False, True):  # POST with a JSON body (ckanapi's default) and GET with a query string
        ck = ckanapi.RemoteCKAN(server, user_agent="govfabric-tests", get_only=get_only)
        names = ck.action.package_list()
        assert names == sorted(package_name(a.qualified_name, a.id) for a in opened)
        found = ck.action.package_search(q="企业", rows=50)
        assert asset.id in {p["id"] for p in found["results"]}
        assert closed.id not in {p["id"] for p in found["results"]}
        pkg = ck.action.package_show(id=package_name(asset.qualified_name, asset.id))
        assert pkg["title"] == asset.cn_name and pkg["num_resources"] == 3
        orgs = ck.action.organization_list(all_fields=True)
        assert {o["title"] for o in orgs} == {a.owner_department for a in opened}
        assert set(ck.action.tag_list()) == {t for a in opened for t in a.tags}
        with pytest.raises(ckanapi.NotFound):
            ck.action.package_show(id=closed.id)
        with pytest.raises(ckanapi.ValidationError):
            ck.action.package_search(rows="lots")
        with pytest.raises(ckanapi.ValidationError):
            ck.action.package_show()
    assert httpx.get(f"{server}/api/v1/datasets").status_code == 401  # anonymous: nothing beyond open metadata
