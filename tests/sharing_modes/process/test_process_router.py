"""``/api/v1/shares`` through ``router_client``: the lifecycle, requests, stats JSON, refusals."""

from __future__ import annotations

from govfabric.sharing_modes.process.router import router


def test_share_routes(world, router_client) -> None:
    steward = router_client(world, router, "steward_mr")
    reviewer = router_client(world, router, "reviewer1")
    analyst = router_client(world, router, "analyst1")
    r = steward.post("/api/v1/shares", json={"kind": "table", "target": "market.enterprise", "title": "企业",
                                              "limits": {"submitted": 24}})
    assert r.status_code == 201, r.text
    assert r.json()["sharing_class"] == "unconditional"
    assert steward.post("/api/v1/shares/market.enterprise/submit", json={"reason": "ready"}).json()["state"] \
        == "submitted"
    assert analyst.post("/api/v1/shares/market.enterprise/review", json={"reason": "mine"}).status_code in (403, 404)
    r = reviewer.post("/api/v1/shares/market.enterprise/review", json={"reason": "fine", "approve": True})
    assert r.json()["state"] == "reviewed"
    assert analyst.post("/api/v1/shares/market.enterprise/publish", json={"reason": "go"}).status_code in (403, 404)
    assert steward.post("/api/v1/shares/market.enterprise/publish", json={"reason": "go"}).json()["state"] \
        == "published"
    r = analyst.post("/api/v1/shares/market.enterprise/requests", json={"purpose": "企业画像分析"})
    assert r.status_code == 201 and r.json()["mode"] == "automatic" and len(r.json()["grants"]) == 1
    shown = steward.get("/api/v1/shares/market.enterprise").json()
    assert [h["to"] for h in shown["history"]][-1] == "published" and shown["history"][-1]["from"] == "reviewed"
    assert [s["name"] for s in analyst.get("/api/v1/shares").json()] == ["market.enterprise"]
    stats = reviewer.get("/api/v1/shares/stats")
    assert stats.status_code == 200 and stats.json()["departments"][0]["requests_by_status"] == {"granted": 1}
    assert analyst.get("/api/v1/shares/stats").status_code == 403
    assert steward.get("/api/v1/shares/overdue").json() == []
    # bad input: a clear 4xx, never 5xx
    assert steward.post("/api/v1/shares/market.enterprise/submit", json={"reason": "x"}).status_code == 422
    assert steward.post("/api/v1/shares/market.enterprise/bogus", json={"reason": "xx"}).status_code == 422
    assert steward.post("/api/v1/shares", json={"kind": "table", "target": "no.such"}).status_code == 404
    r = steward.post("/api/v1/shares/market.enterprise/suspend", json={"reason": "pause"})
    assert r.json()["state"] == "suspended"
    r = analyst.post("/api/v1/shares/market.enterprise/requests", json={"purpose": "再次申请"})
    assert r.status_code == 422 and "suspended" in r.text
