"""The bound of ``benchmarks/service_lookup.py`` (``anchors/pg_lookup_bound_app.py``) does the work it
stands for, on a real PostgreSQL: a request without a valid signature, or replayed, is refused; an
answered one writes one audit event whose hash chains to the one before (SHA-256 over the previous
hash and the event, as the note of the benchmark says), with the value only as a keyed hash."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.testclient import TestClient

from govfabric.auth import httpsig

ANCHORS = Path(__file__).resolve().parents[2] / "benchmarks" / "anchors"
KEY_ID, SECRET = "bench-key", "s3cret-of-the-bench-app"


@pytest.fixture
def bound(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield from _bound(pg_database, tmp_path, monkeypatch)


@pytest.fixture(params=["signature", "audit"])
def one_part(request: pytest.FixtureRequest, pg_database: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ModuleType]]:
    monkeypatch.setenv("BOUND_PARTS", request.param)
    for module in _bound(pg_database, tmp_path, monkeypatch):
        yield request.param, module


def _bound(pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE enterprise (uscc text PRIMARY KEY, name text, district text, capital numeric)")
        conn.execute("INSERT INTO enterprise VALUES ('91350100000000001X', '福州甲公司', '350102', 12.50)")
    for name, value in {"ANCHOR_PG_URL": pg_database, "BOUND_KEY_ID": KEY_ID, "BOUND_SECRET": SECRET,
                        "BOUND_NONCES": str(tmp_path / "nonces.sqlite")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(ANCHORS))
    sys.modules.pop("pg_lookup_bound_app", None)
    module = importlib.import_module("pg_lookup_bound_app")
    module.prepare(pg_database)
    try:
        yield module
    finally:
        module.pool.close()
        sys.modules.pop("pg_lookup_bound_app", None)


def _signed(uscc: str, secret: str = SECRET) -> httpx.Request:
    request = httpx.Request("GET", f"http://testserver/api/v1/query/ent_lookup?uscc={uscc}")
    httpsig.sign(request, key_id=KEY_ID, secret=secret.encode())
    return request


def _send(client: TestClient, request: httpx.Request) -> httpx.Response:
    return client.get(str(request.url), headers={k: request.headers[k] for k in ("signature-input", "signature")})


def test_the_bound_checks_signatures_and_chains_one_audit_event_per_call(bound: ModuleType, pg_database: str) -> None:
    import psycopg

    client = TestClient(bound.app)
    assert client.get("/api/v1/query/ent_lookup?uscc=x").status_code == 401  # unsigned
    assert _send(client, _signed("x", secret="wrong")).status_code == 401
    first = _signed("91350100000000001X")
    answer = _send(client, first)
    assert answer.status_code == 200
    assert answer.json()["rows"] == [{"name": "福州甲公司", "district": "350102", "capital": 12.5}]
    assert _send(client, first).status_code == 401  # replayed
    assert _send(client, _signed("91350100000000002X")).json()["rows"] == []
    with psycopg.connect(pg_database) as conn:
        events = conn.execute("SELECT seq, details::text, hash FROM bound_audit ORDER BY seq").fetchall()
        head = conn.execute("SELECT seq, hash FROM bound_audit_head").fetchone()
    assert [seq for seq, *_ in events] == [1, 2]
    prev = b"\x00"
    for _, text, digest in events:
        assert json.loads(text)["params"] == ["uscc"] and "91350100000000001X" not in text  # the value hashed
        # the chain: each hash is SHA-256 over the previous one and the event's text as stored
        assert bytes(digest) == hashlib.sha256(prev + text.encode()).digest()
        prev = bytes(digest)
    assert head is not None and head[0] == 2 and bytes(head[1]) == prev


def test_each_part_of_the_bound_served_alone_does_that_part_only(one_part: tuple[str, ModuleType],
                                                                  pg_database: str) -> None:
    import psycopg

    part, bound = one_part
    client = TestClient(bound.app)
    unsigned = client.get("/api/v1/query/ent_lookup?uscc=91350100000000001X")
    signed = _signed("91350100000000001X")
    answers = [_send(client, signed), _send(client, signed)]  # the second replays the first's nonce
    with psycopg.connect(pg_database) as conn:
        audited = conn.execute("SELECT count(*) FROM bound_audit").fetchone()
    if part == "signature":  # checked, replays refused; nothing audited
        assert (unsigned.status_code, *(a.status_code for a in answers)) == (401, 200, 401)
        assert audited == (0,)
    else:  # no signature checked; every answered call audited
        assert (unsigned.status_code, *(a.status_code for a in answers)) == (200, 200, 200)
        assert audited == (3,)
    assert answers[0].json()["rows"] == [{"name": "福州甲公司", "district": "350102", "capital": 12.5}]


def test_an_unknown_part_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANCHOR_PG_URL", raising=False)  # the module only, no server
    monkeypatch.syspath_prepend(str(ANCHORS))
    monkeypatch.delitem(sys.modules, "pg_lookup_bound_app", raising=False)  # put back as it was afterwards
    parts = importlib.import_module("pg_lookup_bound_app").parts
    assert parts(None) == parts("signature, audit") == {"signature", "audit"}
    with pytest.raises(ValueError, match="BOUND_PARTS"):
        parts("signature,lineage")
    with pytest.raises(ValueError, match="BOUND_PARTS"):
        parts(" , ")
