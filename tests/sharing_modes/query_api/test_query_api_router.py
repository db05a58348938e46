"""The HTTP routes of the query services, through the router fixture (caller fixed): formats,
pagination, and bad input answered 4xx with the JSON error shape — never 5xx, nothing echoed."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from test_query_api_service import ENTERPRISE, PARAMS

from govfabric.sharing_modes.query_api.router import ARROW, router


@pytest.fixture
def client(demo, router_client) -> Any:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.query_api.create("ent_lookup", "market.enterprise", params=PARAMS, require_one_of=["uscc", "name", "district"],
                          columns=["name", "district", "capital", "founded"], order=["uscc"], page_size=5,
                          max_page_size=50)
    demo.access.grant("analyst1", "market.enterprise", row_filter="xzqh = '110105'")
    c = router_client(demo, router, "analyst1")
    c.demo = demo
    return c


def test_list_schema_and_json_pages(client: Any) -> None:
    assert [s["name"] for s in client.get("/api/v1/query").json()] == ["ent_lookup"]
    schema = client.get("/api/v1/query/ent_lookup/schema").json()
    assert schema["require_one_of"] == ["uscc", "name", "district"] and schema["max_page_size"] == 50
    mine = client.demo.sql("SELECT name FROM market.enterprise WHERE xzqh = '110105' ORDER BY uscc").column(0)
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"district.in": ["朝阳区", "海淀区"]}
        if token:
            params["page_token"] = token
        r = client.get("/api/v1/query/ent_lookup", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [row["name"] for row in body["rows"]]
        token = body["next_page_token"]
        if not token:
            break
    assert seen == mine.to_pylist()  # the row filter holds: only the caller's region


def test_csv_and_arrow(client: Any) -> None:
    q = {"district": "朝阳区", "page_size": "3"}
    csv = client.get("/api/v1/query/ent_lookup", params=q, headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pcsv.read_csv(io.BytesIO(csv.content))
    assert table.num_rows == 3 and table.column_names == ["name", "district", "capital", "founded"]
    arrow = client.get("/api/v1/query/ent_lookup", params=q, headers={"Accept": ARROW})
    assert arrow.status_code == 200 and arrow.headers["content-type"] == ARROW
    got = pa.ipc.open_stream(arrow.content).read_all()
    assert got.num_rows == 3 and arrow.headers.get("x-next-page-token")


BAD = [
    "district=a&founded.gte=abc", "uscc=" + "x" * 1025, "uscc=a%00b", "uscc=a%E2%80%AEb", "uscc=a&uscc=b",
    "uscc=a&nope=1", "uscc.prefix=a", "founded.gte=2020-01-01", "", "uscc=a&page_size=0", "uscc=a&page_size=-5",
    "uscc=a&page_size=51", "uscc=a&page_size=99999999999999999999", "uscc=a&page_size=abc",
    "uscc=a&page_token=forged", "uscc=a&page_token=" + "A" * 5000, "uscc=a&page_size=1&page_size=2",
    "%FF%FE=1", "uscc=%ED%A0%80", "district.in=" + ",".join(["a"] * 101),
    "a" * 200 + "=1",
]


def test_bad_input_is_4xx_json(client: Any) -> None:
    for query in BAD:  # one workspace for all (a demo copy costs seconds)
        r = client.get(f"/api/v1/query/ent_lookup?{query}")
        assert 400 <= r.status_code < 500, (query, r.status_code, r.text)
        body = r.json()
        assert set(body) >= {"code", "message"} and "Traceback" not in r.text, query
        assert "SELECT" not in r.text.upper() and "x" * 100 not in r.text, query
    sql = client.get("/api/v1/query/ent_lookup?uscc=1%27%20OR%201=1--&name.prefix=%25")
    assert sql.status_code == 200 and sql.json() == {"rows": [], "next_page_token": None}


def test_unknown_service_and_bad_names(client: Any) -> None:
    assert client.get("/api/v1/query/nothing?uscc=1").status_code == 404
    assert client.get("/api/v1/query/Bad%20Name?uscc=1").status_code == 422
    assert client.get("/api/v1/query/nothing/schema").status_code == 404


def test_caller_without_grant_is_403(demo, router_client) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.query_api.create("ent_lookup", "market.enterprise", params=PARAMS, require_one_of=["uscc"],
                          columns=["name"], order=["uscc"])
    c = router_client(demo, router, "analyst1")
    assert c.get("/api/v1/query").json() == []
    r = c.get("/api/v1/query/ent_lookup?uscc=1")
    assert r.status_code == 403 and r.json()["code"] == "access_denied"
    # nor its parameters and column types: without the grant the service is as unknown as in the listing
    hidden = c.get("/api/v1/query/ent_lookup/schema")
    assert hidden.status_code == 404 and "capital" not in hidden.text and "uscc" not in hidden.text
    assert router_client(demo, router, "steward_mr").get("/api/v1/query/ent_lookup/schema").status_code == 200


def test_a_dead_source_is_503_naming_it(workspace, router_client, tmp_path) -> None:
    """A source that stops answering: 503 with the source named, JSON, and the server stays up."""
    import sqlite3

    db = tmp_path / "ent.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE qy (uscc TEXT PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO qy VALUES ('91110105MA00DF3N6A', '甲')")
    steward = workspace.as_user("steward1")
    steward.catalog.add_source("entdb", f"sqlite:///{db}", department="市场监管局")
    steward.catalog.harvest("entdb")
    steward.virtual.create_table("market.qy", "entdb.main.qy", keep_names=True)
    steward.query_api.create("qy_lookup", "market.qy", params={"uscc": ["eq"]}, columns=["name"], order=["uscc"])
    steward.access.grant("analyst1", "market.qy")
    client = router_client(workspace, router, "analyst1")
    ok = client.get("/api/v1/query/qy_lookup", params={"uscc": "91110105MA00DF3N6A"})
    assert ok.status_code == 200 and len(ok.json()["rows"]) == 1  # (a name: masked by default)
    workspace.release_engines()
    db.unlink()
    dead = client.get("/api/v1/query/qy_lookup", params={"uscc": "91110105MA00DF3N6A"})
    assert dead.status_code == 503, dead.text
    body = dead.json()
    assert body["code"] == "source_error" and "entdb" in body["message"] and "Traceback" not in dead.text
    assert client.get("/api/v1/query").status_code == 200  # the server answers the next call
