"""``govfabric api``: create, list, show, call in-process as --as, drop."""

from __future__ import annotations

import json
from pathlib import Path

from govfabric.cli.main import app
from tests.infra.cli import run_ok, runner


def test_api_cli(demo_home: Path) -> None:
    run_ok(demo_home, "vt", "create", "market.enterprise", "--from", "mr_db.main.t_qy_jbxx",
         "--rename", "tyshxydm=uscc,qymc=name,qx=district,zczb=capital,clrq=founded",
         "--only", "tyshxydm", "--only", "qymc", "--only", "qx", "--only", "zczb", "--only", "clrq")
    run_ok(demo_home, "api", "create", "ent_lookup", "--table", "market.enterprise", "--param", "uscc:eq",
         "--param", "district:eq,in", "--param", "founded:range", "--require-one-of", "uscc,name,district",
         "--columns", "name,district,capital", "--page-size", "3", "--order", "uscc")
    listed = json.loads(run_ok(demo_home, "api", "list", "--json"))
    assert [s["name"] for s in listed] == ["ent_lookup"]
    shown = json.loads(run_ok(demo_home, "api", "show", "ent_lookup", "--json"))
    assert [p["column"] for p in shown["params"]] == ["uscc", "district", "founded"]
    page = json.loads(run_ok(demo_home, "api", "call", "ent_lookup", "district.in=朝阳区,海淀区", "--json"))
    assert len(page["rows"]) == 3 and page["next_page_token"]
    assert set(page["rows"][0]) == {"name", "district", "capital"}
    r = runner.invoke(app, ["--home", str(demo_home), "--as", "analyst1", "api", "call", "ent_lookup", "uscc=1"])
    assert r.exit_code != 0 and "Traceback" not in r.output  # no grant
    r = runner.invoke(app, ["--home", str(demo_home), "api", "call", "ent_lookup", "founded.gte=abc"])
    assert r.exit_code != 0 and "founded.gte" in str(r.exception)
    run_ok(demo_home, "api", "drop", "ent_lookup")
    assert json.loads(run_ok(demo_home, "api", "list", "--json")) == []
