"""The service and CLI without HTTP: versions follow the source's definition, predicate hints never
narrow, who may manage recipients and shares, the CLI group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from govfabric.errors import AccessDenied, AlreadyExists, NotFound, ValidationFailed
from govfabric.sharing_modes.delta_sharing.service import _predicate


def test_version_moves_when_the_shared_view_is_redefined(shared: Any) -> None:
    ds = shared.delta_sharing
    shared.virtual.create_view("market.chaoyang", "SELECT name, district FROM market.enterprise "
                                                  "WHERE district = '朝阳区'")
    ds.add_table("gov.market.chaoyang", "market.chaoyang")
    assert ds.version("gov", "market", "chaoyang") == 1
    assert ds.version("gov", "market", "chaoyang") == 1  # stable while nothing changes
    shared.virtual.create_view("market.chaoyang", "SELECT name FROM market.enterprise", replace=True)
    assert ds.version("gov", "market", "chaoyang") == 2
    fields = json.loads(ds.metadata("gov", "market", "chaoyang").metadata["schemaString"])["fields"]
    assert [f["name"] for f in fields] == ["name"]


def test_only_stewards_manage_and_names_are_checked(shared: Any) -> None:
    analyst = shared.as_user("analyst1")
    with pytest.raises(AccessDenied):
        analyst.delta_sharing.create_share("mine")
    with pytest.raises(AccessDenied):
        analyst.delta_sharing.add_recipient("r", "analyst1", endpoint="http://x/delta-sharing")
    with pytest.raises(AlreadyExists):
        shared.delta_sharing.create_share("gov")
    with pytest.raises(ValidationFailed):
        shared.delta_sharing.create_share("../etc")
    with pytest.raises(ValidationFailed):
        shared.delta_sharing.add_recipient("../../x", "analyst1", endpoint="http://x/delta-sharing")
    with pytest.raises(NotFound):
        shared.delta_sharing.add_table("gov.market.none", "market.no_such_table")
    with pytest.raises(NotFound):
        shared.delta_sharing.add_recipient("ghost_r", "no_such_principal", endpoint="http://x/delta-sharing")


def test_a_principal_without_a_grant_sees_no_share(shared: Any) -> None:
    analyst = shared.as_user("analyst1")
    assert [s["name"] for s in analyst.delta_sharing.list_shares()] == ["gov"]
    shared.access.revoke(shared.access.grants(grantee="analyst1")[0].id)
    assert analyst.delta_sharing.list_shares() == []
    with pytest.raises(NotFound):
        analyst.delta_sharing.get_share("gov")
    with pytest.raises((AccessDenied, NotFound)):
        analyst.delta_sharing.query("gov", "market", "enterprise", base_url="http://x", recipient="r")


def test_predicate_hints_are_typed_and_never_narrower() -> None:
    cols = {"district", "capital"}
    eq = {"op": "equal", "children": [{"op": "column", "name": "district", "valueType": "string"},
                                      {"op": "literal", "value": "朝阳区' OR 1=1 --", "valueType": "string"}]}
    cond = _predicate(eq, cols)
    assert isinstance(cond, exp.EQ) and isinstance(cond.expression, exp.Literal) and cond.expression.is_string
    unknown = {"op": "equal", "children": [{"op": "column", "name": "secret"}, {"op": "literal", "value": "1",
                                                                             "valueType": "int"}]}
    assert _predicate({"op": "and", "children": [eq, unknown]}, cols).sql() == cond.sql()  # a conjunct dropped
    assert _predicate({"op": "or", "children": [eq, unknown]}, cols) is None  # a disjunct drops the whole or
    assert _predicate({"op": "not", "children": [eq]}, cols) is None
    bad_number = {"op": "lessThan", "children": [{"op": "column", "name": "capital"},
                                                 {"op": "literal", "value": "1; DROP", "valueType": "long"}]}
    assert _predicate(bad_number, cols) is None


def test_cli_group(shared: Any) -> None:
    from typer.testing import CliRunner

    from govfabric.cli.main import app

    home = str(shared.settings.home)
    run = CliRunner().invoke
    added = run(app, ["--home", home, "--as", "steward_mr", "delta", "recipient", "add", "cli_r",
                      "--principal", "analyst1", "--expires", "7d", "--json"])
    assert added.exit_code == 0, added.output
    profile = Path(json.loads(added.output)["profile"])
    assert json.loads(profile.read_text())["bearerToken"].startswith("gfds_")
    listed = run(app, ["--home", home, "--as", "steward_mr", "delta", "recipient", "list", "--json"])
    assert "cli_r" in listed.output and "gfds_" not in listed.output
    assert run(app, ["--home", home, "--as", "steward_mr", "delta", "recipient", "revoke", "cli_r"]).exit_code == 0
    tables = run(app, ["--home", home, "--as", "steward_mr", "delta", "share", "list", "--json"])
    assert json.loads(tables.output)[0]["table"] == "gov.market.enterprise"


def test_recipient_files_gather_engine_batches_into_large_row_groups(tmp_path: Path, monkeypatch: Any) -> None:
    """An engine's small batches (64k rows from DuckDB, 10k from PostgreSQL) are not one row group each:
    that made files 2.5× larger and twice as slow to write; groups stay bounded, the rows unchanged."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from govfabric.sharing_modes.delta_sharing import service

    data = pa.table({"id": pa.array(range(10_000), pa.int64()), "district": pa.array(["朝阳区"] * 10_000),
                     "at": pa.array([0] * 10_000, pa.timestamp("us"))})
    target = service._target_schema(data.schema)
    buf = io.BytesIO()
    assert service._write_parquet(iter(data.to_batches(max_chunksize=1_000)), target, buf) == 10_000
    meta = pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata
    assert meta.num_row_groups == 1
    back = pq.read_table(io.BytesIO(buf.getvalue()))
    assert back.schema == target and back.column("id").to_pylist() == list(range(10_000))
    monkeypatch.setattr(service, "ROW_GROUP_ROWS", 4_000)
    buf = io.BytesIO()
    service._write_parquet(iter(data.to_batches(max_chunksize=1_000)), target, buf)
    groups = pq.ParquetFile(io.BytesIO(buf.getvalue())).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [4_000, 4_000, 2_000]
