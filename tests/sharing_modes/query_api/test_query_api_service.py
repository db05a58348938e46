"""Conditional query services on the demo workspace: typed conditions, required parameters, keyset
pages with sealed tokens, the caller's grants, masks and row filters, and the audit record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from govfabric.errors import AccessDenied, AlreadyExists, GovfabricError, NotFound, ValidationFailed
from govfabric.sharing_modes.query_api.service import PageTokenInvalid

ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district", "fddbr_sfzh": "legal_rep_id",
                           "zczb": "capital", "clrq": "founded"},
                  only=["tyshxydm", "qymc", "qx", "fddbr_sfzh", "zczb", "clrq", "xzqh"])
PARAMS = {"uscc": ["eq"], "name": ["eq", "prefix"], "district": ["eq", "in"], "founded": ["range"]}


@pytest.fixture
def svc(demo) -> Any:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.query_api.create("ent_lookup", "market.enterprise", params=PARAMS, require_one_of=["uscc", "name", "district"],
                          columns=["name", "district", "capital", "legal_rep_id"], order=["uscc"], page_size=7,
                          max_page_size=50)
    return demo


def _all(demo: Any, column: str, where: str = "") -> list[Any]:
    return demo.sql(f"SELECT {column} FROM market.enterprise {where} ORDER BY uscc").column(0).to_pylist()


def test_eq_lookup_as_the_owner(svc: Any) -> None:
    uscc, name = svc.sql("SELECT uscc, name FROM market.enterprise LIMIT 1").to_pylist()[0].values()
    page = svc.query_api.call("ent_lookup", {"uscc": [uscc]})
    assert [r["name"] for r in page.rows] == [name]
    assert page.table.column_names == ["name", "district", "capital", "legal_rep_id"]
    assert page.next_page_token is None


def test_pagination_walks_every_row_once(svc: Any) -> None:
    districts = sorted(set(_all(svc, "district")))[:2]
    expected = svc.sql("SELECT name FROM market.enterprise WHERE district IN ("
                       + ", ".join(f"'{d}'" for d in districts) + ") ORDER BY uscc").column(0).to_pylist()
    assert len(expected) > 7
    seen, token, pages = [], None, 0
    while True:
        page = svc.query_api.call("ent_lookup", {"district.in": [",".join(districts)]}, page_token=token)
        assert page.table.num_rows <= 7
        seen += [r["name"] for r in page.rows]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == expected and pages == -(-len(expected) // 7)


def test_range_prefix_and_typed_literals(svc: Any) -> None:
    got = svc.query_api.call("ent_lookup", {"name.prefix": ["北京"], "founded.gte": ["2015-01-01"],
                                            "founded.lte": ["2018-12-31"]}, page_size=50)
    want = svc.sql("SELECT name FROM market.enterprise WHERE starts_with(name, '北京') AND founded >= DATE "
                   "'2015-01-01' AND founded <= DATE '2018-12-31' ORDER BY uscc LIMIT 50").column(0).to_pylist()
    assert [r["name"] for r in got.rows] == want


@pytest.mark.parametrize("params", [
    {"uscc": ["x' OR '1'='1"]},  # SQL text is a value, matches nothing
    {"name.prefix": ["%"]},  # no LIKE wildcard: starts_with
])
def test_sql_fragments_are_values(svc: Any, params: dict[str, list[str]]) -> None:
    assert svc.query_api.call("ent_lookup", params).table.num_rows == 0


@pytest.mark.parametrize(("params", "size"), [
    ({"district": ["a"], "founded.gte": ["abc"]}, None),  # type confusion
    ({"district": ["a"], "founded.gte": ["2020-13-45"]}, None),
    ({"uscc": ["x" * 1025]}, None),  # overlong
    ({"uscc": ["a\x00b"]}, None),  # NUL
    ({"uscc": ["a\u202eb"]}, None),  # bidi override
    ({"uscc": ["a\u200bb"]}, None),  # zero-width space
    ({"uscc": ["a", "b"]}, None),  # repeated where one is allowed
    ({"uscc": ["a"], "secret": ["1"]}, None),  # unknown parameter
    ({"uscc.prefix": ["a"]}, None),  # an operator the service does not allow
    ({"uscc": [""]}, None),  # empty
    ({"district.in": [",".join(["a"] * 101)]}, None),  # too many values
    ({"founded.gte": ["2020-01-01"]}, None),  # no required parameter: no paging through everything
    ({}, None),
    ({"uscc": ["a"]}, 0), ({"uscc": ["a"]}, -1), ({"uscc": ["a"]}, 51), ({"uscc": ["a"]}, 10**12),
])
def test_bad_input_is_refused_without_echo(svc: Any, params: dict[str, list[str]], size: int | None) -> None:
    with pytest.raises(ValidationFailed) as exc:
        svc.query_api.call("ent_lookup", params, page_size=size)
    assert exc.value.status == 422
    for values in params.values():
        for v in values:
            if len(v) > 3:
                assert v not in str(exc.value)


def test_tokens_are_bound_to_service_caller_and_parameters(svc: Any) -> None:
    district = _all(svc, "district")[0]
    token = svc.query_api.call("ent_lookup", {"district": [district]}, page_size=1).next_page_token
    assert token
    with pytest.raises(PageTokenInvalid):  # other parameters
        svc.query_api.call("ent_lookup", {"district": [district + "x"]}, page_token=token)
    with pytest.raises(PageTokenInvalid):  # altered
        svc.query_api.call("ent_lookup", {"district": [district]}, page_token=token[:-2] + ("AA" if token[-2:] != "AA"
                                                                                          else "BB"))
    for forged in ("abc", "x" * 5000, "eyJrIjpbIjEiXX0", "../../etc", "a.b"):
        with pytest.raises(PageTokenInvalid):
            svc.query_api.call("ent_lookup", {"district": [district]}, page_token=forged)
    svc.access.grant("analyst1", "market.enterprise")
    with pytest.raises(PageTokenInvalid):  # another caller
        svc.as_user("analyst1").query_api.call("ent_lookup", {"district": [district]}, page_token=token)
    assert svc.query_api.call("ent_lookup", {"district": [district]}, page_token=token, page_size=1).table.num_rows


def test_caller_without_grant_is_refused(svc: Any) -> None:
    analyst = svc.as_user("analyst1")
    with pytest.raises(AccessDenied):
        analyst.query_api.call("ent_lookup", {"district": ["朝阳区"]})
    assert [r.name for r in analyst.query_api.list(callable_only=True)] == []


def test_masks_and_row_filters_apply(svc: Any) -> None:
    svc.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    svc.access.grant("analyst1", "market.enterprise", row_filter="xzqh = '110105'")
    analyst = svc.as_user("analyst1")
    assert [r.name for r in analyst.query_api.list(callable_only=True)] == ["ent_lookup"]
    everywhere = sorted(set(_all(svc, "district")))
    rows = analyst.query_api.call("ent_lookup", {"district.in": [",".join(everywhere)]}, page_size=50).rows
    assert rows and {r["district"] for r in rows} == {"朝阳区"}
    ids = [r["legal_rep_id"] for r in rows if r["legal_rep_id"]]
    assert ids and all("*" in i for i in ids)


def test_every_call_is_audited_with_hashed_values(svc: Any) -> None:
    uscc = _all(svc, "uscc")[0]
    svc.query_api.call("ent_lookup", {"uscc": [uscc]})
    with pytest.raises(GovfabricError):
        svc.query_api.call("ent_lookup", {"founded.gte": ["x"]})
    events = svc.audit.events(action="query_api.call")
    assert [e.details["status"] for e in events[-2:]] == ["ok", "ValidationFailed"]
    ok = events[-2].details
    assert ok["service"] == "ent_lookup" and ok["params"] == ["uscc"] and ok["rows"] == 1 and ok["ms"] >= 0
    assert uscc not in json.dumps([e.details for e in events], ensure_ascii=False)
    assert len(ok["values"]["uscc"][0]) == 24


def test_create_rules(svc: Any) -> None:
    with pytest.raises(AlreadyExists):
        svc.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"]}, columns=["name"])
    with pytest.raises(ValidationFailed, match="not unique"):
        svc.query_api.create("by_district", "market.enterprise", params={"district": ["eq"]}, columns=["name"])
    with pytest.raises(ValidationFailed):
        svc.query_api.create("bad", "market.enterprise", params={"uscc": ["like"], "founded": ["prefix"]},
                             columns=["nope"])
    with pytest.raises(NotFound):
        svc.query_api.create("x", "market.nothing", params={"uscc": ["eq"]}, columns=["name"])
    with pytest.raises(AccessDenied):  # a steward of another department
        svc.as_user("steward_ps").query_api.create("x", "market.enterprise", params={"uscc": ["eq"]},
                                                   columns=["name"])
    with pytest.raises(AccessDenied):
        svc.as_user("steward_ps").query_api.drop("ent_lookup")
    svc.query_api.drop("ent_lookup")
    with pytest.raises(NotFound):
        svc.query_api.call("ent_lookup", {"uscc": ["a"]})
    assert [e.action for e in svc.audit.events(target="query_api:ent_lookup")][:2] == ["query_api.create",
                                                                                        "query_api.drop"]


def test_a_kept_definition_follows_a_drop_and_recreate_elsewhere(svc: Any) -> None:
    """The service definition is kept between calls under the store's generation; a drop and
    re-create through another façade (another process's) is seen by the next call."""
    uscc = svc.sql("SELECT uscc FROM market.enterprise LIMIT 1").column(0)[0].as_py()
    assert svc.query_api.call("ent_lookup", {"uscc": [uscc]}).table.column_names[0] == "name"
    other = svc.as_user(svc.user)
    other.query_api.drop("ent_lookup")
    other.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"]}, columns=["district"],
                           order=["uscc"])
    assert svc.query_api.call("ent_lookup", {"uscc": [uscc]}).table.column_names == ["district"]
    other.query_api.drop("ent_lookup")
    with pytest.raises(NotFound):
        svc.query_api.call("ent_lookup", {"uscc": [uscc]})


def test_an_answered_call_is_audited_with_its_query(svc: Any) -> None:
    """One transaction records the query (sql.query) and the call (query_api.call), adjacent."""
    uscc = svc.sql("SELECT uscc FROM market.enterprise LIMIT 1").column(0)[0].as_py()
    svc.query_api.call("ent_lookup", {"uscc": [uscc]})
    events = svc.audit.events()
    last = [e.action for e in events][-2:]
    assert last == ["sql.query", "query_api.call"], last
    assert events[-1].details["rows"] == 1 and events[-1].details["status"] == "ok"


def test_an_answered_call_appends_its_events_in_one_batch(svc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The query's and the call's events: one read of the chain head, one insert, one head move;
    the chain verifies and the value is bound, not in the query text (its digest is the shape's)."""
    from govfabric.auth import audit

    uscc = svc.sql("SELECT uscc FROM market.enterprise LIMIT 1").column(0)[0].as_py()
    batches: list[list[str]] = []
    real = audit.append_many
    monkeypatch.setattr(audit, "append_many", lambda s, entries, rows=(): batches.append([e[1] for e in entries])
                        or real(s, entries, rows))
    from govfabric.virtualization import query

    monkeypatch.setattr(query, "append_many", audit.append_many)
    for u in (uscc, "91110000000000000X"):
        svc.query_api.call("ent_lookup", {"uscc": [u]})
    assert batches == [["sql.query", "query_api.call"]] * 2
    events = svc.audit.events()
    assert events[-1].prev_hash == events[-2].hash and events[-2].details["sql_sha256"] == events[-4].details[
        "sql_sha256"]
    assert svc.audit.verify().ok


def test_printed_select_is_kept_per_shape_with_values_in_placeholder_order(svc: Any, monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    """The SELECT's text is built once per shape; a kept text gets the new call's values in the order
    of its placeholders (eq, in, range — the order ``_build`` generates them) and answers as built."""
    rows = svc.sql("SELECT uscc, district, founded FROM market.enterprise WHERE founded IS NOT NULL "
                   "ORDER BY uscc LIMIT 2").to_pylist()
    api = svc.query_api
    built: list[str] = []
    build = api._build
    monkeypatch.setattr(api, "_build", lambda *a: (built.append("x"), build(*a))[1])

    def call(r: dict[str, Any]) -> list[str]:
        day = r["founded"].isoformat()
        return [x["name"] for x in api.call("ent_lookup", {"uscc": [r["uscc"]], "district.in": [r["district"]],
                                                           "founded.gte": [day], "founded.lte": [day]}).rows]

    first, second = call(rows[0]), call(rows[1])
    assert len(built) == 1  # the second call reused the text
    for r, got in ((rows[0], first), (rows[1], second)):
        want = svc.sql(f"SELECT name FROM market.enterprise WHERE uscc = '{r['uscc']}'").column(0).to_pylist()
        assert got == want and len(got) == 1
    assert call({**rows[1], "district": "nowhere"}) == []  # values bound, not the kept call's
    api.call("ent_lookup", {"name.prefix": ["北京"]})
    api.call("ent_lookup", {"name.prefix": ["上海"]})
    assert len(built) == 3  # a literal in the text: built each time


def _consumer_events(demo: Any) -> int:
    return sum(e["job"]["name"] == "query_api.ent_lookup" for e in demo.lineage.events())


def test_concurrent_first_calls_record_the_consumer_lineage_once(svc: Any) -> None:
    import threading

    uscc = _all(svc, "uscc")[:8]
    start, errors = threading.Barrier(len(uscc)), []

    def call(value: str) -> None:
        try:
            start.wait()
            svc.query_api.call("ent_lookup", {"uscc": [value]})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(u,)) for u in uscc]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _consumer_events(svc) == 1  # a server's first calls each wrote it (and rewrote its edges)


def test_consumer_lineage_not_written_is_written_by_a_later_call(svc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api, uscc = svc.query_api, _all(svc, "uscc")[0]
    write = api._write_consumer

    def fails(row: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(api, "_write_consumer", fails)
    with pytest.raises(OSError):
        api.call("ent_lookup", {"uscc": [uscc]})
    monkeypatch.setattr(api, "_write_consumer", write)
    api.call("ent_lookup", {"uscc": [uscc]})
    api.call("ent_lookup", {"uscc": [uscc]})
    assert _consumer_events(svc) == 1
