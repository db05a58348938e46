"""The SQL check-character conditions agree with :mod:`govfabric.identifiers` on generated codes.

Property test (hypothesis): valid credit codes and resident IDs from random parts, the same with one
character replaced (by an alphabet symbol, a look-alike, a lowercase letter or a full-width digit),
two neighbours swapped, a character dropped or added, and random strings — DuckDB answers every one
as the Python validator does; a sample runs on the real Trino."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govfabric.governance.quality import sqlchecks
from govfabric.identifiers import (
    PROVINCE_CODES,
    USCC_ALPHABET,
    USCC_AUTHORITIES,
    generate_resident_id,
    generate_uscc,
    is_valid_resident_id,
    is_valid_uscc,
)

NOISE = USCC_ALPHABET + "IOSVZaxX９ -"
CHECKS = (("uscc", is_valid_uscc), ("resident_id", is_valid_resident_id))


@st.composite
def valid_uscc(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(USCC_AUTHORITIES)))
    entity = draw(st.sampled_from(sorted(USCC_AUTHORITIES[authority][1])))
    division = draw(st.sampled_from(sorted(PROVINCE_CODES))) + draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    division = draw(st.sampled_from([division, "100000"]))
    org = draw(st.text(USCC_ALPHABET, min_size=8, max_size=8))
    return generate_uscc(random.Random(0), division, authority=authority, entity_type=entity, org_code=org)


@st.composite
def valid_resident_id(draw: st.DrawFn) -> str:
    division = draw(st.sampled_from(sorted(PROVINCE_CODES))) + draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    born = draw(st.dates(date(1900, 1, 1), date(2020, 12, 31)))
    return generate_resident_id(random.Random(draw(st.integers(0, 999))), division, born, draw(st.sampled_from("MF")))


@st.composite
def damaged(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    v = draw(base)
    i = draw(st.integers(0, len(v) - 1))
    c = draw(st.sampled_from(NOISE))
    return draw(st.sampled_from([
        v[:i] + c + v[i + 1:],  # one character replaced
        v[:i] + v[i + 1:i + 2] + v[i:i + 1] + v[i + 2:],  # neighbours swapped
        v[:i] + v[i + 1:],  # one dropped
        v[:i] + c + v[i:],  # one added
        v[:17] + draw(st.sampled_from(NOISE)),  # another check character
    ]))


CODES = st.one_of(valid_uscc(), valid_resident_id(), damaged(valid_uscc()), damaged(valid_resident_id()),
                  st.text(NOISE, min_size=0, max_size=20))


def _verdicts(rows: list[tuple[str, bool, bool]]) -> dict[str, tuple[bool, bool]]:
    return {v: (bool(u), bool(r)) for v, u, r in rows}


def _query(dialect: str, values: list[str]) -> str:
    """``SELECT v, <uscc invalid>, <resident ID invalid>`` over the values as literal rows."""
    from sqlglot import exp

    checks = [sqlchecks.invalid(kind, "v").sql(dialect) for kind, _ in CHECKS]
    rows = ", ".join(f"({exp.Literal.string(v).sql(dialect)})" for v in values)
    return f'SELECT "v", COALESCE({checks[0]}, TRUE), COALESCE({checks[1]}, TRUE) FROM (VALUES {rows}) AS t("v")'


def _expected(values: list[str]) -> dict[str, tuple[bool, bool]]:
    return {v: (not is_valid_uscc(v), not is_valid_resident_id(v)) for v in values}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CODES, min_size=1, max_size=30))
def test_duckdb_agrees_with_python(values: list[str]) -> None:
    import duckdb

    got = _verdicts(duckdb.connect().execute(_query("duckdb", values)).fetchall())
    assert got == _expected(values)


def test_property_finds_a_disagreement() -> None:
    """The comparison can fail: a check that accepts a wrong organisation-code check character is caught."""
    import duckdb

    code = generate_uscc(random.Random(7), "110105")
    wrong17 = code[:16] + ("0" if code[16] != "0" else "1") + code[17]
    assert not is_valid_uscc(wrong17)
    sql = _query("duckdb", [wrong17]).replace(sqlchecks.invalid("uscc", "v").sql("duckdb"),
                                               "NOT REGEXP_MATCHES(\"v\", '^[0-9A-Z]{18}$')")
    assert _verdicts(duckdb.connect().execute(sql).fetchall()) != _expected([wrong17])


@pytest.mark.trino
def test_trino_agrees_with_python_on_a_sample() -> None:
    """One query on the real Trino: 200 generated codes (valid and damaged) and the edge cases."""
    from urllib.parse import urlparse

    import trino
    from infra.services import require_trino_url

    rng = random.Random(32100)
    values = {"", "X" * 18, "91110105MA01234567", "11010519491231002X", "９１"}
    for _ in range(50):
        for base in (generate_uscc(rng, rng.choice(["110105", "310101", "440305", "100000"]),
                                   org_code="".join(rng.choice(USCC_ALPHABET) for _ in range(8))),
                     generate_resident_id(rng, "110105", date(1900 + rng.randrange(120), 1 + rng.randrange(12),
                                                              1 + rng.randrange(28)), rng.choice("MF"))):
            i = rng.randrange(18)
            values |= {base, base[:i] + rng.choice(NOISE) + base[i + 1:]}
    url = urlparse(require_trino_url())
    cur = trino.dbapi.connect(host=url.hostname, port=url.port, user="govfabric-test").cursor()
    cur.execute(_query("trino", sorted(values)))
    assert _verdicts(cur.fetchall()) == _expected(sorted(values))


@pytest.mark.parametrize("kind", ["uscc", "resident_id"])
def test_invalid_is_defects_or_ed_cheapest_first(kind: str) -> None:
    """``format OR check₁ OR check₂``, never ``NOT (… AND …)``: a filter then weighs a code's check
    characters only while it is still undecided (a wrong format or organisation check character
    stops there), which halved the check's CPU time on the benchmark's table."""
    from sqlglot import exp

    bad = sqlchecks.invalid(kind, "v").unnest()
    assert isinstance(bad, exp.Or)
    parts = list(bad.flatten())
    assert len(parts) == 3 and not any(p.find(exp.And) for p in parts)
    assert isinstance(parts[0], exp.Not) and isinstance(parts[0].this, exp.RegexpLike)  # no weighing at all
    weighed = [len(list(p.find_all(exp.StrPosition))) for p in parts]
    assert weighed == sorted(weighed)
