"""Virtualization grants are recorded on chain by the owning department, and readable back."""

from __future__ import annotations


def test_grant_and_revoke_are_on_chain(demo) -> None:
    demo.virtual.create_table("market.licence", "mr_db.main.t_yyzz", only=["qymc", "zzbh"])
    g = demo.access.grant("analyst1", "market.licence", columns=["qymc"])
    asset_id = demo.catalog.asset("mr_db.main.t_yyzz").id
    chain = demo.chain
    assert chain.is_granted(str(g.id), asset_id, "analyst1")
    assert not chain.is_granted(str(g.id), asset_id, "someone_else")
    demo.access.revoke(g.id, "done")
    assert not chain.is_granted(str(g.id), asset_id, "analyst1")
    events = [e.event for e in chain.history(asset_id)]
    assert "AccessGranted" in " ".join(events) or any("Grant" in e for e in events)
    assert any("Revok" in e for e in events)
    # the embedded chain survives a restart of the workspace
    from govfabric.fabric import connect

    again = connect(demo.settings.home, "steward_mr")
    assert not again.chain.is_granted(str(g.id), asset_id, "analyst1")
    assert len(again.chain.history(asset_id)) == len(events)
    again.close()


def test_history_command_finds_grants_by_asset_name(demo, capsys) -> None:
    import json

    from govfabric.cli.main import run

    demo.virtual.create_table("market.licence", "mr_db.main.t_yyzz", only=["qymc"])
    demo.access.grant("analyst1", "market.licence")
    code = run(["--home", str(demo.settings.home), "--as", "steward_mr", "chain", "history", "mr_db.main.t_yyzz"])
    events = json.loads(capsys.readouterr().out)
    assert code == 0 and any("Grant" in e["event"] for e in events)
