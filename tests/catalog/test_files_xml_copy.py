"""An XML asset is read by DuckDB through a Parquet copy of its rows, kept in the workspace cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import govfabric.catalog.harvest.files as hf
from govfabric.catalog.sources.files import xml_copy

XML = ("<licences><licence type='营业执照'><number>A1</number><holder>刘䶮</holder></licence>"
       "<licence type='食品经营许可证'><number></number><holder>张三</holder><extra>x</extra></licence>"
       "<licence><number>A3</number></licence></licences>")


def _rows(path: Path) -> list[tuple[object, ...]]:
    return duckdb.connect().execute(f"SELECT * FROM read_parquet('{path}')").fetchall()


def test_xml_copy_holds_the_rows_as_text_and_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every named column as text, in file order; an empty or missing field is NULL; the copy is made
    once per content and columns (a later engine set-up does not parse the XML again)."""
    src = tmp_path / "licences.xml"
    src.write_text(XML, encoding="utf-8")
    calls: list[Path] = []
    real = hf.read_xml_rows
    monkeypatch.setattr(hf, "read_xml_rows", lambda p: calls.append(p) or real(p))
    names = ["type", "number", "holder"]
    copy = xml_copy(src, names, tmp_path / "cache")
    assert _rows(copy) == [("营业执照", "A1", "刘䶮"), ("食品经营许可证", None, "张三"), (None, "A3", None)]
    assert duckdb.connect().execute(f"DESCRIBE SELECT * FROM read_parquet('{copy}')").fetchall()[0][1] == "VARCHAR"
    assert xml_copy(src, names, tmp_path / "cache") == copy and len(calls) == 1
    other = xml_copy(src, ["holder"], tmp_path / "cache")  # other columns: another copy
    assert other != copy and _rows(other) == [("刘䶮",), ("张三",), (None,)]
    src.write_text(XML.replace("A1", "B1"), encoding="utf-8")  # new content: a new copy
    assert _rows(xml_copy(src, names, tmp_path / "cache"))[0] == ("营业执照", "B1", "刘䶮") and len(calls) == 3
    assert not [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp"]
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "cache").iterdir()} == {0o600}


def test_xml_copy_does_not_import_pandas(tmp_path: Path) -> None:
    src = tmp_path / "rows.xml"
    src.write_text(XML, encoding="utf-8")
    code = ("import sys; from pathlib import Path; from govfabric.catalog.sources.files import xml_copy; "
            f"xml_copy(Path({str(src)!r}), ['type', 'number'], Path({str(tmp_path / 'c')!r})); "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_xml_asset_reads_through_the_engine(steward, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "licences.xml").write_text(XML, encoding="utf-8")
    steward.catalog.add_source("lic", str(folder))
    assert steward.catalog.harvest("lic").added == ["lic.licences"]
    steward.virtual.create_table("l.licences", "lic.licences")
    got = steward.sql('SELECT "type", "number", holder FROM l.licences').to_pylist()
    assert got == [{"type": "营业执照", "number": "A1", "holder": "刘䶮"},
                   {"type": "食品经营许可证", "number": None, "holder": "张三"},
                   {"type": None, "number": "A3", "holder": None}]
