"""Hole 1 of issue 10: quality commands read raw source data; now they are steward actions of the
owning department (audited), their samples masked per the column's masks and shown only to its
stewards, and paths through the pipeline give an analyst with a grant only masked values."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govfabric.cli.main import run as cli
from govfabric.errors import AccessDenied

A = "p.main.people"
IDS = ["110105198001010011", "110105198102020022", "110101197903030033", "110105198204040044"]
CODES = ["K7-ALPHA", "K7-BRAVO", "Q9-CHARLIE", "K7-DELTA"]  # masked in the virtual table, not name-personal


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from govfabric.fabric import init_workspace

    tmp = tmp_path_factory.mktemp("qguard")
    admin = init_workspace(tmp / "ws")
    admin.add_principal("steward1", ["steward"], department="市场监管局")
    admin.add_principal("steward_x", ["steward"], department="公安局")
    admin.add_principal("analyst1", ["analyst"], department="发展改革委")
    admin.add_principal("analyst2", ["analyst"], department="发展改革委")
    db = tmp / "people.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (id_no TEXT, name TEXT, district TEXT, code TEXT, secret TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)",
                    [(i, n, "110105", c, "top-secret") for i, n, c in zip(IDS, ["张三", "张四", "王五", "李六"], CODES,
                                                                         strict=True)])
    con.commit()
    con.close()
    steward = admin.as_user("steward1")
    steward.catalog.add_source("p", f"sqlite:///{db}", department="市场监管局")
    steward.catalog.harvest("p")
    steward.virtual.create_table("pub.people", A, hidden=["secret"])
    steward.access.set_mask("pub.people", "code", "full")
    steward.quality.add_rule(A, {"kind": "format", "column": "code", "pattern": "^K7-"})
    steward.access.grant("analyst2", "pub.people", columns=["id_no", "name", "code"])
    yield {"home": tmp / "ws", "admin": admin, "steward": steward, "x": admin.as_user("steward_x"),
           "analyst": admin.as_user("analyst1"), "granted": admin.as_user("analyst2"), "tmp": tmp}
    admin.close()


def gf(capsys: pytest.CaptureFixture[str], home: Path, user: str, *args: str) -> tuple[int, str]:
    code = cli(["--home", str(home), "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def _raw(text: str) -> list[str]:
    return [v for v in [*IDS, *CODES, "top-secret"] if v in text]


def test_suggest_correct_refuses_an_analyst(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = gf(capsys, world["home"], "analyst1", "quality", "suggest", "correct", A, "id_no", "--domain", "x")
    assert code != 0 and "may not read" in out and not _raw(out)
    code, out = gf(capsys, world["home"], "analyst1", "quality", "suggest", "correct", A, "secret", "--domain", "x")
    assert code != 0 and not _raw(out)
    code, out = gf(capsys, world["home"], "steward1", "quality", "suggest", "correct", A, "id_no", "--domain", "x")
    assert code == 0 and IDS[0] in out  # the owning steward's action still works


def test_duplicates_refuses_an_analyst(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    args = ("quality", "duplicates", A, "--record", json.dumps({"name": "张"}), "--columns", "name",
            "--prefix", "0", "--threshold", "0")
    code, out = gf(capsys, world["home"], "analyst1", *args)
    assert code != 0 and not _raw(out)
    code, out = gf(capsys, world["home"], "steward_x", *args)  # a steward of another department
    assert code != 0 and not _raw(out)
    code, out = gf(capsys, world["home"], "steward1", *args)
    assert code == 0 and IDS[0] not in out and "张三" in out


def test_corrections_with_a_huge_limit_refuses_an_analyst(world: dict[str, Any]) -> None:
    with pytest.raises(AccessDenied):
        world["analyst"].quality.corrections(A, "id_no", domain=["x"], limit=100000)
    with pytest.raises(AccessDenied):
        world["granted"].quality.corrections(A, "id_no", domain=["x"], limit=100000)  # a grant is not enough
    got = world["steward"].quality.corrections(A, "id_no", domain=["x"], limit=100000)
    assert sorted(r["value"] for r in got) == sorted(IDS)


def test_quality_run_samples_masked_and_only_for_the_owning_steward(world: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out = gf(capsys, world["home"], "analyst1", "quality", "run", A, "--no-docs")
    assert code != 0 and "may not read" in out and not _raw(out)
    with pytest.raises(AccessDenied):
        world["x"].quality.run(A)
    run = world["steward"].quality.run(A)
    assert not run.success
    res = world["steward"].quality.results(run.id)[0]
    assert res.sample and res.masked and "Q9-CHARLIE" not in str(res.sample)  # masked per the column's mask
    html = "".join(p.read_text(encoding="utf-8", errors="ignore")
                   for p in Path(run.docs_path).parent.rglob("*.html"))
    assert "Q9-CHARLIE" not in html
    for who in ("analyst", "x"):
        assert world[who].quality.results(run.id)[0].sample == []
        with pytest.raises(AccessDenied):
            world[who].quality.docs(run.id)
    assert world["steward"].quality.results(run.id)[0].sample  # withholding did not erase the stored sample
    code, out = gf(capsys, world["home"], "analyst1", "quality", "results", run.id)
    assert code == 0 and "Q9" not in out


def test_rules_and_orders_belong_to_the_owning_department(world: dict[str, Any]) -> None:
    with pytest.raises(AccessDenied):
        world["x"].quality.add_rule(A, {"kind": "not_null", "column": "name"})
    with pytest.raises(AccessDenied):
        world["x"].quality.remove_rule("format_pattern_code")
    world["steward"].quality.run(A, docs=False)
    order = world["steward"].quality.orders(asset=A)[0]
    assert "Q9-CHARLIE" not in str(order.details["sample"]) and order.details["sample"]
    assert "sample" not in world["analyst"].quality.order(order.number).details  # withheld, not erased
    assert "sample" not in world["x"].quality.orders(asset=A)[0].details
    assert world["steward"].quality.order(order.number).details["sample"]
    with pytest.raises(AccessDenied):
        world["x"].quality.start(order.number)
    with pytest.raises(AccessDenied):
        world["analyst"].quality.verify(order.number)


def test_pipeline_paths_give_a_granted_analyst_masked_values_only(world: dict[str, Any]) -> None:
    from govfabric.governance.schedule.service import export_query
    from govfabric.mpc.data import FabricReader

    got = FabricReader(world["granted"]).read("pub.people", ["id_no", "code"], None)
    assert got.num_rows == 4 and not _raw(str(got.to_pylist()))
    out = world["granted"].settings.resolved_export_root / "granted.csv"
    export_query(world["granted"], "SELECT id_no, name, code FROM pub.people", "csv", "granted.csv")
    assert not _raw(out.read_text(encoding="utf-8"))
    with pytest.raises(AccessDenied):
        FabricReader(world["granted"]).read("pub.people", ["district"], None)  # not granted


def test_scheduled_quality_runs_are_steward_actions(world: dict[str, Any]) -> None:
    with pytest.raises(AccessDenied):
        world["analyst"].schedule.add("quality", A, every="1h")
    with pytest.raises(AccessDenied):
        world["x"].schedule.add("quality", A, every="1h")
    world["steward"].schedule.add("quality", A, every="1h")
