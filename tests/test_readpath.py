"""The guarded read path: every registered entry point refuses an analyst without a grant, and
no module outside an allow-list opens a source connection or reads source files by itself."""

from __future__ import annotations

import ast
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import govfabric
from govfabric.auth.readpath import load_all
from govfabric.errors import AccessDenied

A = "p.main.people"
IDS = ["110105198001010011", "110105198102020022", "110101197903030033", "110105198204040044"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A small demo-like workspace: a person table of the steward's department, a virtual table over
    it (masked by default), a quality rule that fails (so a work order exists), no grant to anyone.
    Built once per module (a quality run costs seconds); recipes do not change what others see."""
    from govfabric.fabric import init_workspace

    tmp_path = tmp_path_factory.mktemp("readpath")
    workspace = init_workspace(tmp_path / "ws")
    workspace.add_principal("steward1", ["steward"], department="市场监管局")
    workspace.add_principal("analyst1", ["analyst"], department="发展改革委", attributes={"region": "110105"})
    db = tmp_path / "people.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (id_no TEXT, name TEXT, district TEXT, secret TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?)",
                    [(i, n, d, f"s{k}") for k, (i, n, d) in
                     enumerate(zip(IDS, ["张三", "李四", "王五", None], ["110105", "110105", "110101", None],
                                   strict=True))])
    con.commit()
    con.close()
    steward = workspace.as_user("steward1")
    steward.catalog.add_source("p", f"sqlite:///{db}", department="市场监管局")
    steward.catalog.harvest("p")
    steward.virtual.create_table("pub.people", A, hidden=["secret"])
    steward.quality.add_rule(A, {"kind": "not_null", "column": "name", "min_ratio": 1.0})
    run = steward.quality.run(A, docs=False)
    assert not run.success
    order = steward.quality.orders(asset=A)[0]
    steward.quality.start(order.number)
    steward.quality.fix(order.number)
    yield {"admin": workspace, "steward": steward, "analyst": workspace.as_user("analyst1"),
           "order": order.number, "tmp": tmp_path}
    workspace.close()


def _sample(f: Any, w: dict[str, Any]) -> Any:
    from govfabric.governance.security.sample import asset_with_source, sample_columns

    asset, src = asset_with_source(f, A)
    return sample_columns(f, asset, src)


def _export(f: Any, w: dict[str, Any]) -> Any:
    from govfabric.governance.schedule.service import export_query

    return export_query(f, "SELECT id_no, name FROM pub.people", "csv", f"{f.user}.csv")  # under the export root


def _mpc(f: Any, w: dict[str, Any]) -> Any:
    from govfabric.mpc.data import FabricReader

    return FabricReader(f).read("pub.people", ["id_no"], None)


#: entry point → how to call it as the given fabric (each new entry point adds its recipe here)
RECIPES: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "sql": lambda f, w: f.sql("SELECT id_no FROM pub.people"),
    "quality.run": lambda f, w: f.quality.run(A, docs=False),
    "quality.order.verify": lambda f, w: f.quality.verify(w["order"]),
    "quality.suggest.complete": lambda f, w: f.quality.completion(A, "name", "id_no", group_by="district"),
    "quality.suggest.correct": lambda f, w: f.quality.corrections(A, "id_no", domain=["x"], limit=100000),
    "quality.duplicates": lambda f, w: f.quality.duplicates(A, {"name": "张"}, ["name"], prefix=0, threshold=0),
    "security.sample": _sample,
    "catalog.signature": lambda f, w: f.catalog.content_signature(A, refresh=True),
    "schedule.export": _export,
    "mpc.read.fabric": _mpc,
}
#: entries no workspace principal reaches, with the reason (keep this list short)
OPERATOR_ONLY = {
    "mpc.read.duckdb_file": "a party service reads a DuckDB file its operator named with `mpc serve --data`",
}


def test_every_entry_point_has_a_recipe() -> None:
    entries = load_all()
    assert set(entries) == set(RECIPES) | set(OPERATOR_ONLY), (
        "a data-reading entry point was added or removed: give it a recipe in RECIPES "
        "(or, if no workspace principal reaches it, a reason in OPERATOR_ONLY)")
    for name in OPERATOR_ONLY:
        assert entries[name].via == "operator"
    for name in RECIPES:
        assert entries[name].via in ("pipeline", "steward")


@pytest.mark.parametrize("entry", sorted(RECIPES))
def test_analyst_without_grant_is_refused(world: dict[str, Any], entry: str) -> None:
    load_all()
    with pytest.raises(AccessDenied):
        RECIPES[entry](world["analyst"], world)
    assert not (world["analyst"].settings.resolved_export_root / "analyst1.csv").exists()


@pytest.mark.parametrize("entry", sorted(n for n in RECIPES if n != "quality.order.verify"))
def test_owning_steward_may_read(world: dict[str, Any], entry: str) -> None:
    """The same recipes work for the owning department's steward (the guard is not a wall)."""
    load_all()
    RECIPES[entry](world["steward"], world)


def test_steward_actions_are_audited(world: dict[str, Any]) -> None:
    before = world["admin"].audit.head()[0]
    world["steward"].quality.corrections(A, "district", domain=["110105"])
    events = [e for e in world["admin"].audit.segment(before + 1, world["admin"].audit.head()[0])
              if e.action == "data.read"]
    assert [(e.actor, e.target, e.details["entry"]) for e in events] == [
        ("steward1", f"asset:{A}", "quality.suggest.correct")]


def test_steward_of_another_department_is_refused(world: dict[str, Any]) -> None:
    if "steward_x" not in {p.name for p in world["admin"].principals()}:
        world["admin"].add_principal("steward_x", ["steward"], department="公安局")
    x = world["admin"].as_user("steward_x")
    for entry in ("quality.run", "quality.suggest.correct", "quality.duplicates", "security.sample",
                  "catalog.signature"):
        with pytest.raises(AccessDenied):
            RECIPES[entry](x, world)


# -- no side doors: source connections only in allowed modules ------------------------------------

#: module → why it may open a source connection or read source files itself
ALLOWED = {
    "govfabric/virtualization/engines/duckdb.py": "the DuckDB engine of the pipeline",
    "govfabric/virtualization/engines/trino.py": "the Trino engine of the pipeline",
    # runs the pipeline's planned (policy-rewritten) query on its one source, through QueryService
    "govfabric/virtualization/engines/direct.py": "the direct engine of the pipeline",
    "govfabric/store/db.py": "the metadata store (not a source)",
    "govfabric/store/summary.py": "the metadata store (not a source), read by `status` with sqlite3",
    "govfabric/auth/httpsig.py": "the server's signature nonces, a SQLite file of the workspace (not a source)",
    "govfabric/catalog/harvest/sql.py": "harvest: structure only (names, types, row counts); Catalog.harvest",
    "govfabric/catalog/harvest/files.py": "harvest: structure of files; Catalog.harvest",
    "govfabric/catalog/importer.py": "reads the steward's asset import file, not a source",
    "govfabric/catalog/signature.py": "catalog.signature (steward)",
    # a kind's rows() is its part of a content signature, called only through signature.sign_asset
    **{f"govfabric/catalog/sources/{k}.py": "catalog.signature (steward)"
       for k in ("postgresql", "mysql", "sqlite", "duckdb")},
    "govfabric/governance/quality/targets.py": "quality.run / quality.suggest.* / quality.duplicates (steward)",
    "govfabric/mpc/data.py": "mpc.read.duckdb_file (operator)",
    "govfabric/mpc/demo.py": "writes the MPC demo's generated data",
    "govfabric/demo/writers.py": "writes the demo's generated data",
    "govfabric/demo/postgres.py": "copies the demo's generated data into PostgreSQL",
}
CONNECTORS = {("duckdb", "connect"), ("sqlalchemy", "create_engine"), ("sa", "create_engine"),
              ("psycopg", "connect"), ("pymysql", "connect"), ("sqlite3", "connect"), ("dbapi", "connect"),
              ("pq", "read_table"), ("pq", "ParquetFile"), ("parquet", "read_table"), ("pacsv", "read_csv"),
              ("openpyxl", "load_workbook"), ("fastexcel", "read_excel")}
BARE = {"create_engine", "load_workbook", "read_table", "ConnectionPool"}  # a pool opens connections too


def _source_opens(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute):
            base = f.value.attr if isinstance(f.value, ast.Attribute) else getattr(f.value, "id", "")
            if (base, f.attr) in CONNECTORS or (base in ("pl", "polars")
                                                 and f.attr.startswith(("read_", "scan_"))):
                out.append((node.lineno, f"{base}.{f.attr}"))
        elif isinstance(f, ast.Name) and f.id in BARE:
            out.append((node.lineno, f.id))
    return out


def test_no_module_outside_the_engines_opens_a_source() -> None:
    root = Path(govfabric.__file__).parent
    found: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if "/migrations/" in rel:
            continue
        hits = _source_opens(ast.parse(path.read_text(encoding="utf-8")))
        if hits:
            found[rel] = hits
    strays = {m: h for m, h in found.items() if m not in ALLOWED}
    assert not strays, f"modules open sources outside the guarded read path (register them): {strays}"
    assert "govfabric/governance/quality/targets.py" in found  # the scan sees what it should


def test_the_scan_catches_a_new_side_door() -> None:
    code = "import duckdb\nimport polars as pl\ndef f(p):\n    duckdb.connect(p)\n    return pl.read_csv(p)\n"
    assert [h[1] for h in _source_opens(ast.parse(code))] == ["duckdb.connect", "pl.read_csv"]


def test_allowed_modules_name_registered_entries() -> None:
    entries = load_all()
    for module, why in ALLOWED.items():
        for name in (w.strip(" ()").split(" ")[0] for w in why.split("/")):
            if name.startswith(("quality.", "catalog.", "mpc.", "security.")) and "*" not in name:
                assert name in entries, f"{module}: {name} is not a registered entry point"


#: functions that open a source for their caller: each call must sit inside a registered entry point
OPENERS = {"open_target", "sign_asset"}
OPENER_MODULES = {"govfabric/governance/quality/targets.py", "govfabric/catalog/signature.py"}


def _calls_by_function(tree: ast.AST, module: str) -> Iterator[tuple[str, str, int]]:
    """(enclosing function's qualname, called name, line) for every call in the module."""
    def walk(node: ast.AST, stack: list[str]) -> Iterator[tuple[str, str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from walk(child, [*stack, child.name])
                continue
            if isinstance(child, ast.Call):
                f = child.func
                called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                yield ".".join([module, *stack]), called, child.lineno
            yield from walk(child, stack)

    yield from walk(tree, [])


def test_source_openers_are_called_only_from_registered_entries() -> None:
    entries = {e.where for e in load_all().values()}
    root = Path(govfabric.__file__).parent
    strays, seen = [], []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if "/migrations/" in rel or rel in OPENER_MODULES:
            continue
        module = rel[:-3].replace("/", ".")
        for where, called, line in _calls_by_function(ast.parse(path.read_text(encoding="utf-8")), module):
            if called in OPENERS:
                seen.append(where)
                if where not in entries:
                    strays.append(f"{rel}:{line} {where} calls {called}")
    assert not strays, f"a source is opened outside a registered entry point: {strays}"
    assert "govfabric.governance.quality.service.QualityService.run" in seen  # the walk sees the callers


def test_a_stored_signature_is_metadata_but_computing_one_is_a_read(world: dict[str, Any]) -> None:
    digest = world["steward"].catalog.content_signature(A, refresh=True)
    assert world["analyst"].catalog.content_signature(A) == digest  # shown by `catalog show` too
    with pytest.raises(AccessDenied):
        world["analyst"].catalog.content_signature(A, algo="sm3")
