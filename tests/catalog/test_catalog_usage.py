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
