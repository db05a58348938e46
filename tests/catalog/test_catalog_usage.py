"""Favourites, usage statistics and the data dictionary's usage view."""

from __future__ import annotations

import json

import pytest

from govfabric.errors import AlreadyExists, NotFound


def _one(steward, tmp_path) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"name": "t_a", "cn_name": "甲表", "owner_department": "d"},
                             {"name": "t_b", "owner_department": "d"}]), encoding="utf-8")
    steward.catalog.import_file(f)


def test_favourites_are_per_user(steward, analyst, tmp_path) -> None:
    _one(steward, tmp_path)
    analyst.catalog.favorite_add("t_a")
    analyst.catalog.favorite_add("manual.t_b")
    with pytest.raises(AlreadyExists):
        analyst.catalog.favorite_add("t_a")
    assert [a.name for a in analyst.catalog.favorites()] == ["t_a", "t_b"]
    assert steward.catalog.favorites() == []
    analyst.catalog.favorite_remove("t_a")
    with pytest.raises(NotFound):
        analyst.catalog.favorite_remove("t_a")
    assert [a.name for a in analyst.catalog.favorites()] == ["t_b"]
    assert [e.action for e in analyst.audit.events(actor="analyst1")] == [
        "catalog.favorite.add", "catalog.favorite.add", "catalog.favorite.remove"]


def test_usage_counts_uses_distributions_and_consumers(steward, analyst, tmp_path) -> None:
    _one(steward, tmp_path)
    analyst.catalog.record_usage(["t_a", "t_b"])
    analyst.catalog.record_usage(["t_a"])
    steward.catalog.record_usage(["t_a"], kind="distribution", principal="bizsys1")
    u = steward.catalog.usage("t_a")
    assert u["times_used"] == 2 and u["times_distributed"] == 1
    assert u["consumers"] == ["analyst1", "bizsys1"]
    assert steward.catalog.dictionary("t_a")["usage"] == {**u}
    with pytest.raises(NotFound, match="catalog search"):
        steward.catalog.usage("nope")


def test_consumers_and_departments_of_many_assets_in_one_statement(steward, analyst, tmp_path, monkeypatch) -> None:
    """``consumers_of`` (per asset) and ``departments_and_consumers`` (each department and principal once,
    for assets by id or by qualified name) bind a list as one parameter, on both stores; registered
    consumer sources still count."""
    from govfabric.catalog import usage
    from govfabric.catalog.models import Asset

    _one(steward, tmp_path)
    analyst.catalog.record_usage(["t_a"])
    analyst.catalog.favorite_add("t_b")
    steward.catalog.record_usage(["t_b"], kind="distribution", principal="bizsys1")
    with steward.store.session() as s:
        ids = {qn: aid for qn, aid in s.query(Asset.qualified_name, Asset.id)}
        a, b = ids["manual.t_a"], ids["manual.t_b"]
        assert usage.consumers_of(s, [a, b, "nope"]) == {a: {"analyst1"}, b: {"analyst1", "bizsys1"}, "nope": set()}
        assert usage.departments_and_consumers(s, ["manual.t_a"], []) == ({"d"}, {"analyst1"})
        assert usage.departments_and_consumers(s, [], [b]) == (set(), {"analyst1", "bizsys1"})
        assert usage.departments_and_consumers(s, ["manual.t_a", "nope"], [b]) == ({"d"}, {"analyst1", "bizsys1"})
        assert usage.departments_and_consumers(s, [], []) == (set(), set())
        monkeypatch.setattr(usage, "_consumer_sources", [lambda _s, asset_ids: {i: {f"grantee_of_{i}"}
                                                                                 for i in asset_ids}])
        assert usage.departments_and_consumers(s, ["manual.t_a"], [])[1] == {"analyst1", f"grantee_of_{a}"}
        assert usage.consumers_of(s, [b])[b] == {"analyst1", "bizsys1", f"grantee_of_{b}"}
