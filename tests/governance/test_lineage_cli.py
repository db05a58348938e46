"""`govfabric lineage|metadata|schedule` from the command line, on the demo workspace."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from govfabric.cli.main import app


def test_lineage_and_metadata_commands(demo, demo_home, tmp_path) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", renames={"zczb": "capital"},
                              only=["zczb", "qx"])
    demo.sql("SELECT qx, sum(capital) AS cap FROM market.enterprise GROUP BY qx")
    runner = CliRunner()
    env = {"GOVFABRIC_HOME": str(demo_home), "GOVFABRIC_USER": "steward_mr"}

    def run(*args: str) -> str:
        r = runner.invoke(app, list(args), env=env)
        assert r.exit_code == 0, r.output
        return r.output

    impact = json.loads(run("lineage", "impact", "market.enterprise.capital", "--json"))
    assert impact["counts"]["query"] == 1 and impact["consumers"] == ["steward_mr"]
    shown = json.loads(run("lineage", "show", "market.enterprise", "--downstream", "--json"))
    assert len(shown["downstream"]["datasets"]) == 2
    page = tmp_path / "lineage.html"
    run("lineage", "export", "market.enterprise", "--format", "html", "-o", str(page))
    assert "<svg" in page.read_text(encoding="utf-8")
    assert json.loads(run("lineage", "export", "--format", "openlineage").splitlines()[0])["eventType"]
    bad = runner.invoke(app, ["lineage", "impact", "nowhere.nothing"], env=env)
    assert bad.exit_code != 0 and "no dataset 'nowhere.nothing'" in str(bad.exception)
    run("metadata", "term", "district", "--definition", "Administrative district", "--cn", "行政区")
    bad = runner.invoke(app, ["metadata", "link", "mr_db.main.t_qy_jbxx", "--column", "qx", "--term", "nope"],
                        env=env)
    assert bad.exit_code != 0 and "unknown term 'nope'" in str(bad.exception)
    run("metadata", "link", "mr_db.main.t_qy_jbxx", "--column", "qx", "--term", "行政区")
    found = json.loads(run("metadata", "search", "行政区", "--json"))
    assert found["terms"][0]["linked"] == ["mr_db.main.t_qy_jbxx.qx"]
    run("schedule", "add", "harvest", "mr_db", "--every", "1h")
    assert json.loads(run("schedule", "list", "--json"))[0]["kind"] == "harvest"
    run("schedule", "remove", "harvest:mr_db")
