"""The routing service on the demo workspace, with small stdlib HTTP servers standing in for provider
servers (their status is set per test): the registry (sealed secrets, stewards only, audit), the
region policy from the caller's attribute, 4xx passed through, 5xx/connection errors failed over,
panic when every breaker is open, the router and the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govfabric.errors import AccessDenied, AlreadyExists, Unavailable, ValidationFailed
from govfabric.sharing_modes.routing.balance import OPEN
from govfabric.sharing_modes.routing.models import RouteProvider
from govfabric.sharing_modes.routing.service import runtime_of

ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name"}, only=["tyshxydm", "qymc", "xzqh"])
SECRET = "provider-secret-1234567890"


class Provider:
    """A stand-in provider: answers ``/api/v1/query/...`` with ``status`` and records each call."""

    def __init__(self, name: str) -> None:
        self.name, self.status, self.calls = name, 200, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.calls.append((self.path, self.headers.get("Signature-Input", "")))
                body = json.dumps({"rows": [{"who": outer.name}], "next_page_token": None}).encode()
                if outer.status >= 400:
                    body = json.dumps({"code": "x", "message": f"{outer.name} says {outer.status}"}).encode()
                self.send_response(outer.status if self.path.startswith("/api/") else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ws(demo_home: Path) -> Iterator[Any]:
    from govfabric.fabric import connect

    admin = connect(demo_home)
    steward = admin.as_user("steward_mr")
    steward.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    steward.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"]}, columns=["uscc", "name"],
                             order=["uscc"])
    admin.add_principal("caller_bj", ["analyst"], department="北京市市场监督管理局", attributes={"region": "beijing"})
    steward.access.grant("caller_bj", "market.enterprise")
    providers = [Provider("sh"), Provider("bj"), Provider("gz")]
    for p, region in zip(providers, ("shanghai", "beijing", "guangzhou"), strict=True):
        steward.routes.add_provider("ent_lookup", p.url, app_id="app_gw", secret=SECRET, region=region)
    steward.routes.set_policy("ent_lookup", "region", failures=1, window_s=60, cooldown_s=60)
    admin.providers = providers  # type: ignore[attr-defined]
    yield admin
    for p in providers:
        p.close()
    admin.close()


def test_registry_seals_the_secret_and_only_stewards_change_it(ws: Any) -> None:
    with ws.store.session() as s:
        sealed = list(s.scalars(select(RouteProvider.secret_sealed)))
    assert len(sealed) == 3 and all(SECRET not in x for x in sealed)
    assert ws.secrets.open(sealed[0]) == SECRET
    listed = ws.routes.providers("ent_lookup")
    assert [p.region for p in listed] == ["shanghai", "beijing", "guangzhou"] and SECRET not in str(listed)
    caller = ws.as_user("caller_bj")
    with pytest.raises(AccessDenied):
        caller.routes.add_provider("ent_lookup", "http://x.example", app_id="a", secret="s")
    with pytest.raises(AccessDenied):
        caller.routes.set_policy("ent_lookup", "weighted")
    steward = ws.as_user("steward_mr")
    with pytest.raises(AlreadyExists):
        steward.routes.add_provider("ent_lookup", ws.providers[0].url + "/", app_id="a", secret="s")
    for bad in ("ftp://x.example", "http://user:pw@x.example", "http://x.example/?a=1", "not a url"):
        with pytest.raises(ValidationFailed):
            steward.routes.add_provider("ent_lookup", bad, app_id="a", secret="s")
    with pytest.raises(ValidationFailed):
        steward.routes.set_policy("ent_lookup", "random")
    events = ws.audit.events(action="routing.provider_add")
    assert len(events) == 3 and all(SECRET not in json.dumps(e.details) for e in events)


def test_region_policy_4xx_passthrough_failover_and_panic(ws: Any) -> None:
    sh, bj, gz = ws.providers
    caller = ws.as_user("caller_bj")
    got = caller.routes.forward("ent_lookup", [("uscc", "9111Q")])
    assert got.status == 200 and json.loads(got.body)["rows"] == [{"who": "bj"}]  # the caller's region first
    assert bj.calls[0][0] == "/api/v1/query/ent_lookup?uscc=9111Q" and 'keyid="app_gw"' in bj.calls[0][1]
    bj.status = 422  # the caller's mistake: passed back, not retried
    got = caller.routes.forward("ent_lookup", [("uscc", "x")])
    assert got.status == 422 and len(bj.calls) == 2 and not sh.calls and not gz.calls
    bj.status = 500  # the provider's failure: the next one answers; failures=1 opens bj's breaker
    got = caller.routes.forward("ent_lookup", [("uscc", "9111Q")])
    assert got.status == 200 and json.loads(got.body)["rows"][0]["who"] in ("sh", "gz")
    states = {p.url: p.state for p in ws.routes.providers("ent_lookup")}
    assert states[bj.url] == OPEN
    n = len(bj.calls)
    caller.routes.forward("ent_lookup", [("uscc", "9111Q")])
    assert len(bj.calls) == n  # skipped while open
    sh.status = gz.status = 503
    with pytest.raises(Unavailable):
        caller.routes.forward("ent_lookup", [("uscc", "9111Q")])
    assert all(s == OPEN for s in (p.state for p in ws.routes.providers("ent_lookup")))
    bj.status = 200  # bj recovered: with every breaker open the gateway still tries them (panic)
    got = caller.routes.forward("ent_lookup", [("uscc", "9111Q")])
    assert json.loads(got.body)["rows"] == [{"who": "bj"}]
    events = ws.audit.events(action="routing.call")
    assert [e.details["status"] for e in events] == ["200", "422", "200", "200", "unavailable", "200"]
    assert all("9111Q" not in json.dumps(e.details) for e in events)  # "9111Q": no hex hash or id can hold it
    assert events[-1].details["provider"] == bj.url


def test_router_and_health(ws: Any, router_client: Any) -> None:
    from govfabric.sharing_modes.routing.router import router

    http = router_client(ws, router, "caller_bj")
    got = http.get("/api/v1/routed/query/ent_lookup", params={"uscc": "9111Q"})
    assert got.status_code == 200 and got.json()["rows"] == [{"who": "bj"}]
    assert got.headers["content-type"].startswith("application/json")
    assert http.get("/api/v1/routed/query/no_such").status_code == 404
    ws.add_principal("outsider", ["analyst"], department="发展改革委")
    denied = router_client(ws, router, "outsider").get("/api/v1/routed/query/ent_lookup", params={"uscc": "9111Q"})
    assert denied.status_code == 403 and "9111Q" not in denied.text
    assert sum(len(p.calls) for p in ws.providers) == 1  # the outsider reached no provider
    # a narrow grant (rows withheld, a column left out) is not widened by the providers' answer
    ws.add_principal("narrow_rows", ["analyst"], department="发展改革委")
    ws.add_principal("narrow_cols", ["analyst"], department="发展改革委")
    steward = ws.as_user("steward_mr")
    steward.access.grant("narrow_rows", "market.enterprise", row_filter="uscc LIKE '91%'")
    steward.access.grant("narrow_cols", "market.enterprise", columns=["uscc"])
    for who in ("narrow_rows", "narrow_cols"):
        refused = router_client(ws, router, who).get("/api/v1/routed/query/ent_lookup", params={"uscc": "9111Q"})
        assert refused.status_code == 403 and "directly" in refused.text, (who, refused.text)
    assert sum(len(p.calls) for p in ws.providers) == 1
    ws.providers[2].close()
    health = {h.url: h for h in ws.routes.check("ent_lookup", timeout=1)}
    assert health[ws.providers[0].url].ok and not health[ws.providers[2].url].ok
    assert health[ws.providers[2].url].state == OPEN  # failures=1
    assert runtime_of(ws.store).breakers  # state is per process, shared by every façade of the store


def test_route_cli(ws: Any) -> None:
    from typer.testing import CliRunner

    from govfabric.cli.main import app

    runner = CliRunner()
    home = str(ws.settings.home)

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        r = runner.invoke(app, ["--home", home, "--as", "steward_mr", *args], input=stdin)
        assert (r.exit_code == 0) == ok, r.output
        return r.output

    run("route", "provider", "add", "ent_lookup", "http://127.0.0.1:9/", "--app-id", "app_x", "--weight", "2",
        ok=False)  # no --secret-stdin: refused, the secret is never an argument
    run("route", "provider", "add", "ent_lookup", "http://127.0.0.1:9/", "--app-id", "app_x", "--weight", "2",
        "--secret-stdin", stdin="cli-secret-0987654321\n")
    listed = json.loads(run("route", "provider", "list", "ent_lookup", "--json"))
    assert [p["url"] for p in listed][-1] == "http://127.0.0.1:9" and listed[-1]["weight"] == 2
    assert "cli-secret" not in json.dumps(listed)
    run("route", "policy", "ent_lookup", "weighted", "--failures", "2")
    assert json.loads(run("route", "list", "--json"))[0]["policy"] == "weighted"
    health = run("route", "health", "ent_lookup", "--json", ok=False)  # port 9 is closed: exit 1
    assert '"ok": false' in health
    run("route", "provider", "remove", "ent_lookup", "http://127.0.0.1:9")
    assert len(json.loads(run("route", "provider", "list", "--json"))) == 3
