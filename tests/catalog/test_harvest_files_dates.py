"""A CSV's harvest reads it without polars' date inference when no column can hold dates, and the
frame is then the one polars reads with it (``try_parse_dates``): same schema, same values."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govfabric.catalog.harvest.files import INFER_ROWS, maybe_dates, read_delimited


def with_dates(path: Path, encoding: str = "utf8", separator: str = ",") -> pl.DataFrame:
    return pl.read_csv(path, encoding=encoding, separator=separator, has_header=True,
                       infer_schema_length=INFER_ROWS, try_parse_dates=True)


def same_frame(path: Path, encoding: str = "utf8", separator: str = ",") -> pl.DataFrame:
    got = read_delimited(path, encoding, separator, True)
    want = with_dates(path, encoding, separator)
    assert got.schema == want.schema
    assert got.equals(want)
    return got


# values polars reads as dates, datetimes (with and without a zone) and times, and others near them
DATES = ["2021-12-31", "2021/12/31", "31.12.2021", "31-12-2021", "2021-12-31T23:59:59", "2021-12-31 23:59",
         "2021-12-31T23:59:59.123456", "2021-12-31T23:59:59+08:00", "2021-12-31T23:59:59Z", "23:59:59",
         "2021.12.31 2359", "2021-12-31T23:59:59.5+0800"]
NEAR = ["20211231", "1e5", "inf", "NaN", "true", "FALSE", "12.5", "-3", "2021-13-45", "12:61", "T", "Z", "UTC",
        "2021-12-31 utc", "a-b", "1/2", "3.", ".5", "", "  2021-12-31"]
TEXT = ["刘䶮", "欧阳娜娜", "北京数聚云图科技有限公司", "11010519880615217X", "91110108MA01Y8K29Q", "xyz",
        "2021-12-31 北京", "2021-12-31Q", "正常"]


def test_demo_like_files_skip_date_inference_and_read_the_same(tmp_path) -> None:
    rows = ["公民身份号码,姓名,统一社会信用代码,缴费年月,缴费基数,养老保险个人缴费,缴费状态"]
    for i in range(3000):
        rows.append(f"1101081988061521{i % 10}{'X' if i % 7 == 0 else i % 10},刘䶮,91110108MA01Y8K2{i % 10}Q,"
                    f"2024{i % 12 + 1:02d},{5000 + i},{i * 0.75:.2f},{'正常' if i % 3 else '暂停'}")
    path = tmp_path / "社保.csv"
    path.write_bytes("\n".join(rows).encode("gb18030"))
    frame = read_delimited(path, "gb18030", ",", True)
    assert maybe_dates(frame) == []
    assert frame.equals(with_dates(path, "gb18030")) and frame.schema == with_dates(path, "gb18030").schema
    assert frame.schema["缴费年月"] == pl.Int64 and frame.schema["公民身份号码"] == pl.String


@pytest.mark.parametrize("value", DATES)
def test_a_date_column_is_read_with_dates(tmp_path, value: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"名称,when\n刘䶮,{value}\n张三,{value}\n", encoding="utf-8")
    frame = same_frame(path)
    assert maybe_dates(pl.read_csv(path, infer_schema_length=INFER_ROWS)) == ["when"]
    assert frame.schema["when"] != pl.String  # polars does read it as a date, time or datetime


@pytest.mark.parametrize("value", NEAR + TEXT)
def test_a_date_column_with_one_other_value_is_text_either_way(tmp_path, value: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"when,n\n2021-12-31,1\n\"{value}\",2\n2022-01-01,3\n", encoding="utf-8")
    same_frame(path)


def test_text_only_past_the_checked_rows_reads_again_with_dates(tmp_path) -> None:
    path = tmp_path / "late.csv"
    lines = ["when,n"] + [f"2021-12-{i % 28 + 1:02d},{i}" for i in range(1_500)] + ["刘䶮,0"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frame = same_frame(path)
    assert frame.schema["when"] == pl.String  # the CJK name is in polars' rows, not in the first 1,000


def test_beyond_the_inferred_rows_both_fail_alike(tmp_path) -> None:
    path = tmp_path / "far.csv"
    path.write_text("when\n" + "2021-12-31\n" * (INFER_ROWS + 5) + "刘䶮\n", encoding="utf-8")
    with pytest.raises(pl.exceptions.ComputeError):
        with_dates(path)
    with pytest.raises(pl.exceptions.ComputeError):
        read_delimited(path, "utf8", ",", True)


@pytest.mark.parametrize(("separator", "header"), [(";", True), ("\t", True), (",", False)])
def test_other_delimiters_and_no_header(tmp_path, separator: str, header: bool) -> None:
    lines = [["名称", "when", "n"], ["刘䶮", "2021-12-31", "1"], ["张三", "2022-01-01", "2"]]
    path = tmp_path / "d.txt"
    path.write_text("\n".join(separator.join(r) for r in (lines if header else lines[1:])) + "\n", encoding="utf-8")
    got = read_delimited(path, "utf8", separator, header)
    want = pl.read_csv(path, separator=separator, has_header=header, infer_schema_length=INFER_ROWS,
                       try_parse_dates=True)
    assert got.schema == want.schema and got.equals(want) and pl.Date in got.schema.values()


def test_empty_and_quoted_columns(tmp_path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b,c\n"12",,"2021-12-31"\n"x1",,"刘䶮"\n', encoding="utf-8")
    same_frame(path)


CELLS = st.sampled_from(DATES + NEAR + TEXT) | st.text(alphabet="0123456789-/.:TZ +x刘", max_size=22)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.lists(st.lists(st.tuples(CELLS, st.booleans()), min_size=3, max_size=3), min_size=1, max_size=4))
def test_any_mix_of_values_reads_the_same(tmp_path, columns: list[list[tuple[str, bool]]]) -> None:
    """Quoted or not: polars tries numbers and booleans on unquoted fields only."""
    out = io.StringIO()
    out.write(",".join(f"c{i}" for i in range(len(columns))) + "\n")
    for r in range(3):
        out.write(",".join(f'"{col[r][0]}"' if col[r][1] else col[r][0] for col in columns) + "\n")
    path = tmp_path / "mix.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    try:
        want = with_dates(path)
    except pl.exceptions.PolarsError:
        with pytest.raises(pl.exceptions.PolarsError):
            read_delimited(path, "utf8", ",", True)
        return
    got = read_delimited(path, "utf8", ",", True)
    assert got.schema == want.schema and got.equals(want)
