"""Chinese column names (issue 14, item 9): a GB18030 CSV with Chinese headers becomes a virtual
table named by pinyin initials (the Chinese kept as ``cn_name``), or keeps its Chinese names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govfabric.cli.main import run

HEADERS = ["统一社会信用代码", "企业名称", "企业类型", "注册资本(万元)", "2024年产值", "区县"]
ROWS = [["91110105A", "甲公司", "有限", "100", "5", "朝阳"], ["91110108B", "乙公司", "股份", "250", "7", "海淀"]]


def _files(root: Path) -> Path:
    root.mkdir(parents=True)
    text = "\n".join(",".join(r) for r in [HEADERS, *ROWS]) + "\n"
    (root / "企业.csv").write_bytes(text.encode("gb18030"))
    return root


@pytest.fixture
def source(steward, tmp_path: Path):
    steward.catalog.add_source("fs", str(_files(tmp_path / "files")))
    steward.catalog.harvest("fs")
    return steward


def test_pinyin_names_cn_name_and_collisions(source, workspace) -> None:
    row = source.virtual.create_table("market.qy", "fs.企业")
    names = [c["name"] for c in row.columns]
    # mixed ASCII kept lower case, punctuation as _, a leading digit prefixed
    assert names == ["tyshxydm", "qymc", "qylx", "zczb_wy", "c_2024ncz", "qx"]
    assert [c["cn_name"] for c in row.columns] == HEADERS
    workspace.access.grant("admin", "market.qy")
    got = workspace.sql("SELECT tyshxydm, qymc, zczb_wy FROM market.qy ORDER BY tyshxydm").to_pylist()
    assert got == [{"tyshxydm": "91110105A", "qymc": "甲公司", "zczb_wy": 100},
                   {"tyshxydm": "91110108B", "qymc": "乙公司", "zczb_wy": 250}]


def test_same_initials_are_suffixed(steward, tmp_path: Path) -> None:
    root = tmp_path / "f2"
    root.mkdir()
    # 企业名称 / 其余名册 both → qymc; 区县 / 取消 both → qx; an explicit rename takes precedence
    (root / "t.csv").write_bytes("企业名称,其余名册,区县,取消\na,b,c,d\n".encode("gb18030"))
    steward.catalog.add_source("fs2", str(root))
    steward.catalog.harvest("fs2")
    row = steward.virtual.create_table("market.t", "fs2.t", renames={"取消": "qx"})
    assert [c["name"] for c in row.columns] == ["qymc", "qymc_2", "qx_2", "qx"]


def test_row_filter_and_mask_on_pinyin_columns(source, workspace) -> None:
    source.virtual.create_table("market.qy", "fs.企业")
    workspace.access.grant("analyst1", "market.qy", row_filter="qx = '朝阳'")
    workspace.access.set_mask("market.qy", "tyshxydm", "hash")
    analyst = workspace.as_user("analyst1")
    got = analyst.sql("SELECT tyshxydm, qymc FROM market.qy").to_pylist()
    assert len(got) == 1 and got[0]["qymc"] == "甲公司" and got[0]["tyshxydm"] != "91110105A"


def test_keep_names_quoted_chinese_identifiers(source, workspace) -> None:
    row = source.virtual.create_table("market.qy", "fs.企业", keep_names=True)
    assert [c["name"] for c in row.columns] == ["统一社会信用代码", "企业名称", "企业类型", "注册资本_万元_",
                                                "c_2024年产值", "区县"]
    workspace.access.grant("admin", "market.qy", row_filter="\"区县\" = '海淀'")
    got = workspace.sql('SELECT "统一社会信用代码", "注册资本_万元_" FROM market.qy').to_pylist()
    assert got == [{"统一社会信用代码": "91110108B", "注册资本_万元_": 250}]


def test_cli_create_and_show_print_the_chinese_names(source, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "ws")
    assert run(["--home", home, "--as", "steward1", "vt", "create", "market.qy", "--from", "fs.企业"]) == 0
    out = capsys.readouterr().out
    assert "tyshxydm (统一社会信用代码)" in out
    assert run(["--home", home, "vt", "show", "market.qy", "--json"]) == 0
    cols = json.loads(capsys.readouterr().out)["columns"]
    assert {c["name"]: c["cn_name"] for c in cols}["zczb_wy"] == "注册资本(万元)"
    assert run(["--home", home, "vt", "show", "market.qy"]) == 0
    shown = capsys.readouterr().out
    assert "企业名称" in shown and "区县" in shown
