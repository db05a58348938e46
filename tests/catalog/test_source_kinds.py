"""Source kinds behind one seam: the registry, bare database paths, paths with Chinese and spaces."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

from govfabric.catalog.sources import KINDS, SourceKind, kind_of, parse_uri
from govfabric.errors import ValidationFailed

ROOT = Path(__file__).resolve().parents[2] / "govfabric"
#: comparisons on source kind names that are not source kinds (or not moved yet): (file, source line). Only shrinks.
ALLOWED: set[tuple[str, str]] = set()


def _kind_names() -> set[str]:
    # "file" (a scheme of files sources) is left out: chain anchors have a kind "file" too
    return set(KINDS) | {s for k in KINDS.values() for s in k.SCHEMES if s and s != "file"}


def _strings(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_strings(e) for e in node.elts)) if node.elts else set()
    return set()


def _mentions_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Name) and "kind" in node.id)


def kind_chains() -> set[tuple[str, str]]:
    """Every comparison of something called ``kind`` with a source kind's name, outside the sources package."""
    names = _kind_names()
    found: set[tuple[str, str]] = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("catalog/sources/") or "/migrations/" in rel:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(_mentions_kind(s) for s in sides) and any(_strings(s) & names for s in sides):
                found.add((rel, lines[node.lineno - 1].strip()))
    return found


def test_no_source_kind_chains_outside_the_sources_package() -> None:
    found = kind_chains()
    assert found <= ALLOWED, f"compare on source kinds outside govfabric/catalog/sources/: {sorted(found - ALLOWED)}"
    assert ALLOWED <= found, f"allow-list entries that are gone (remove them): {sorted(ALLOWED - found)}"


def test_the_registry_names_each_kind_by_its_class() -> None:
    for name, kind in KINDS.items():
        assert issubclass(kind, SourceKind) and kind.NAME == name
        assert kind_of(name) is kind
    assert kind_of("postgres") is KINDS["postgresql"] and kind_of("mariadb") is KINDS["mysql"]
    with pytest.raises(ValidationFailed, match="unknown source kind"):
        kind_of("oracle")


def test_a_bare_database_path_is_a_database(tmp_path: Path) -> None:
    import duckdb

    lite = tmp_path / "a.db"
    sqlite3.connect(lite).execute("CREATE TABLE t (x INT)").connection.commit()
    duck = tmp_path / "b.db"  # a DuckDB file with a SQLite-ish name: the header decides
    duckdb.connect(str(duck)).execute("CREATE TABLE t (x INT)").close()
    assert parse_uri(str(lite)).kind == "sqlite" and parse_uri(str(lite)).uri == f"sqlite:///{lite}"
    assert parse_uri(str(duck)).kind == "duckdb"
    assert parse_uri(str(tmp_path / "new.duckdb")).kind == "duckdb"  # not there yet: by its suffix
    fake = tmp_path / "fake.sqlite"
    fake.write_text("hello")
    with pytest.raises(ValidationFailed, match="not one"):
        parse_uri(str(fake))
    (tmp_path / "notes.csv").write_text("a\n1\n")
    assert parse_uri(str(tmp_path / "notes.csv")).kind == "files"
    assert parse_uri(str(tmp_path)).kind == "files"


def test_files_keep_their_real_path() -> None:
    p = parse_uri("/data/社保 数据/")
    assert p.kind == "files" and p.uri == "file:///data/社保 数据" and p.path == Path("/data/社保 数据")
    assert parse_uri("file:///data/%E7%A4%BE%E4%BF%9D").uri == "file:///data/社保"


def test_a_folder_with_chinese_and_spaces_works_end_to_end(steward, tmp_path: Path) -> None:
    folder = tmp_path / "社保 数据"
    folder.mkdir()
    (folder / "参保 名单.csv").write_text("id,amount\n1,10\n2,32\n", encoding="utf-8")
    steward.catalog.add_source("social", f"{folder}/")
    src = steward.catalog.source("social")
    assert src.uri == f"file://{folder}"  # the real path, not %E7%A4%BE…
    assert steward.catalog.test_source("social").tables == 1
    report = steward.catalog.harvest("social")
    assert len(report.added) == 1
    steward.virtual.create_table("s.insured", report.added[0])
    assert steward.sql("SELECT sum(amount) AS s FROM s.insured").column(0)[0].as_py() == 42


def test_a_source_registered_percent_encoded_still_opens(steward, tmp_path: Path) -> None:
    from govfabric.catalog.models import Source

    folder = tmp_path / "社保"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n", encoding="utf-8")
    steward.catalog.add_source("old", str(folder))
    with steward.store.session() as s:  # as stored before real paths were kept
        s.query(Source).filter(Source.name == "old").update({"uri": folder.as_uri()})
    assert steward.catalog.test_source("old").tables == 1


def test_sqlite_file_given_as_a_bare_path_is_harvested_as_a_database(steward, tmp_path: Path) -> None:
    db = tmp_path / "人口 库.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (id INTEGER, name TEXT)")
    con.execute("INSERT INTO people VALUES (1, '张三')")
    con.commit()
    con.close()
    steward.catalog.add_source("pop", str(db))
    assert steward.catalog.source("pop").kind == "sqlite"
    assert steward.catalog.harvest("pop").added == ["pop.main.people"]
    steward.virtual.create_table("p.people", "pop.main.people")
    assert steward.sql("SELECT name FROM p.people").column(0)[0].as_py() == "张三"


def test_file_types_are_known_by_the_files_kind_only() -> None:
    """The DuckDB engine asks the files kind for a view; it names no reader and no file format."""
    engine = (ROOT / "virtualization/engines/duckdb.py").read_text(encoding="utf-8")
    found = [w for w in ("read_csv", "read_parquet", "read_xlsx", "read_json", "read_xml", '"csv"', '"xlsx"')
             if w in engine]
    assert not found, found


def test_an_engine_loads_excel_only_for_a_workbook(steward, tmp_path: Path) -> None:
    """DuckDB reads CSV itself; ``excel`` (whose LOAD checks its signature in every new database)
    is loaded when a query reads a workbook."""
    from openpyxl import Workbook

    folder = tmp_path / "表格"
    folder.mkdir()
    (folder / "名单.csv").write_text("id,amount\n1,10\n2,32\n", encoding="utf-8")
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["id", "city"])
    ws.append([1, "福州"])
    wb.save(folder / "城市.xlsx")
    steward.catalog.add_source("sheets", str(folder))
    added = sorted(steward.catalog.harvest("sheets").added)
    csv_asset = next(a for a in added if "名单" in a)
    xlsx_asset = next(a for a in added if "城市" in a)
    steward.virtual.create_table("s.csv_t", csv_asset)
    steward.virtual.create_table("s.xlsx_t", xlsx_asset)
    loaded = "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'read_xlsx'"  # excel's reader

    assert steward.sql("SELECT sum(amount) AS s FROM s.csv_t").column(0)[0].as_py() == 42
    engine = steward.queries.engine("duckdb")
    assert engine._con.execute(loaded).fetchone() == (0,)
    assert steward.sql("SELECT city FROM s.xlsx_t").column(0).to_pylist() == ["福州"]
    assert engine._con.execute(loaded).fetchone()[0] > 0
