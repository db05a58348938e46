"""The demo workspace with open data published: ``market.enterprise`` (over the conditionally open
enterprise register) offered as files and as a query service, and ``market.cases`` (over the not
open inspection cases) offered as files too, so a leak of a not-open asset would show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

OPEN_ASSET = "mr_db.main.t_qy_jbxx"  # conditional_open
CLOSED_ASSET = "mr_db.main.t_jcaj"  # not_open


def _publish(demo: Any) -> Any:
    demo.virtual.create_table("market.enterprise", OPEN_ASSET, renames={"tyshxydm": "uscc", "qymc": "name"},
                              only=["tyshxydm", "qymc", "qx"])
    demo.datasets.publish("market.enterprise", ["csv", "parquet"], title="企业基本信息")
    demo.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"]}, columns=["uscc", "name"],
                          description="按统一社会信用代码查询企业")
    demo.virtual.create_table("market.cases", CLOSED_ASSET)
    demo.datasets.publish("market.cases", ["csv"], title="检查案件")
    return demo


@pytest.fixture(scope="module")
def published(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Built once a module: its tests only read the catalogue (anonymous calls add audit events and
    search-log rows, which no test here counts but ``fresh_published``'s)."""
    from govfabric.fabric import connect
    from tests.infra.demo import copy_demo

    home = copy_demo(demo_template, tmp_path_factory.mktemp("catalog_api") / "demo")
    with connect(home, "steward_mr") as demo:
        yield _publish(demo)


@pytest.fixture
def fresh_published(demo: Any) -> Any:
    """The same, private to one test: for a test that counts what calls leave behind."""
    return _publish(demo)


@pytest.fixture
def open_client(published: Any) -> Iterator[TestClient]:
    """The whole server app (middleware included), called anonymously."""
    from govfabric.server.app import create_app

    with TestClient(create_app(published), base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c
