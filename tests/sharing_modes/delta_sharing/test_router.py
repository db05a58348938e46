"""The protocol through the real app (middleware included) with TestClient: bearer tokens of
recipients, the protocol's error JSON, signed file URLs with HEAD and Range, the cache."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.sharing_modes.delta_sharing.conftest import MASKED

BASE = "/delta-sharing"
TABLE = f"{BASE}/shares/gov/schemas/market/tables/enterprise"


@pytest.fixture
def app_client(shared: Any) -> Iterator[TestClient]:
    from govfabric.fabric import connect
    from govfabric.server.app import create_app

    origin = connect(shared.settings.home)
    with TestClient(create_app(origin)) as client:
        yield client


@pytest.fixture
def profile(shared: Any) -> dict[str, Any]:
    _, path = shared.delta_sharing.add_recipient("analyst_r", "analyst1", endpoint="http://testserver/delta-sharing")
    return json.loads(Path(path).read_text())


def _auth(profile: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {profile['bearerToken']}"}


def _lines(resp: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in resp.text.splitlines() if line]


def test_profile_file_is_private_and_token_stored_only_as_digest(shared: Any, profile: dict[str, Any]) -> None:
    path = Path(shared.settings.resolved_export_root) / "delta-sharing" / "analyst_r.share"
    assert path.stat().st_mode & 0o777 == 0o600
    assert profile["shareCredentialsVersion"] == 1 and profile["endpoint"] == "http://testserver/delta-sharing"
    assert profile["expirationTime"].endswith("Z")
    store = Path(shared.settings.home / "store.db").read_bytes()
    assert profile["bearerToken"].encode() not in store


def test_list_and_query_with_a_recipient_token(app_client: TestClient, profile: dict[str, Any]) -> None:
    h = _auth(profile)
    assert app_client.get(f"{BASE}/shares", headers=h).json() == {"items": [{"name": "gov", "id": app_client.get(
        f"{BASE}/shares/gov", headers=h).json()["share"]["id"]}]}
    tables = app_client.get(f"{BASE}/shares/gov/all-tables", headers=h).json()["items"]
    assert [(t["schema"], t["name"]) for t in tables] == [("market", "enterprise")]
    version = app_client.head(f"{TABLE}/version", headers=h)
    assert version.status_code == 200 and version.headers["delta-table-version"] == "1"
    meta = app_client.get(f"{TABLE}/metadata", headers=h)
    assert meta.headers["delta-table-version"] == "1"
    schema = json.loads(_lines(meta)[1]["metaData"]["schemaString"])
    assert MASKED in [f["name"] for f in schema["fields"]]
    answer = app_client.post(f"{TABLE}/query", headers=h, json={"limitHint": 5})
    assert answer.status_code == 200, answer.text
    file = _lines(answer)[2]["file"]
    assert json.loads(file["stats"])["numRecords"] <= 5
    got = app_client.get(file["url"])  # no bearer token on the file URL
    assert got.status_code == 200
    table = pq.read_table(io.BytesIO(got.content))
    assert set(table.column("district").to_pylist()) <= {"朝阳区"}
    assert all(v is None or "*" in v for v in table.column(MASKED).to_pylist())
    again = _lines(app_client.post(f"{TABLE}/query", headers=h, json={"limitHint": 5}))[2]["file"]
    assert again["id"] == file["id"]  # the cached file (same content hash)


def test_head_and_range_on_a_file_url(app_client: TestClient, profile: dict[str, Any]) -> None:
    file = _lines(app_client.post(f"{TABLE}/query", headers=_auth(profile), json={}))[2]["file"]
    head = app_client.head(file["url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == file["size"]
    part = app_client.get(file["url"], headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == b"PAR1"
    tail = app_client.get(file["url"], headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == b"PAR1"


@pytest.mark.parametrize("tamper", ["sig", "expires", "recipient", "file"])
def test_tampered_file_urls_are_refused(app_client: TestClient, shared: Any, profile: dict[str, Any],
                                        tamper: str) -> None:
    from urllib.parse import parse_qs, urlencode, urlsplit

    shared.delta_sharing.add_recipient("other_r", "steward_mr", endpoint="http://x/delta-sharing")
    url = _lines(app_client.post(f"{TABLE}/query", headers=_auth(profile), json={}))[2]["file"]["url"]
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    path = parts.path
    if tamper == "sig":
        q["sig"] = ("0" if q["sig"][0] != "0" else "1") + q["sig"][1:]
    elif tamper == "expires":
        q["expires"] = str(int(q["expires"]) + 3600)
    elif tamper == "recipient":
        q["recipient"] = "other_r"
    else:
        path = path[:-1] + ("0" if path[-1] != "0" else "1")
    resp = app_client.get(f"{path}?{urlencode(q)}")
    assert resp.status_code == 403
    assert resp.json()["errorCode"] == "PERMISSION_DENIED"
    assert b"PAR1" not in resp.content


def test_expired_file_url_is_refused(app_client: TestClient, shared: Any, profile: dict[str, Any]) -> None:
    from govfabric.sharing_modes.delta_sharing.service import sign_file

    url = _lines(app_client.post(f"{TABLE}/query", headers=_auth(profile), json={}))[2]["file"]["url"]
    file_id = url.split("/files/")[1].split("?")[0]
    sig = sign_file(shared, file_id, "analyst_r", 1000)
    resp = app_client.get(f"{BASE}/files/{file_id}?recipient=analyst_r&expires=1000&sig={sig}")
    assert resp.status_code == 403 and resp.json()["errorCode"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("token", ["gfds_forged", "gft_personal_token_style", "", "x" * 300])
def test_forged_tokens_are_refused_without_leaking(app_client: TestClient, profile: dict[str, Any],
                                                   token: str) -> None:
    resp = app_client.get(f"{BASE}/shares", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    body = resp.json()
    assert set(body) == {"errorCode", "message"} and body["errorCode"] == "UNAUTHENTICATED"
    assert "enterprise" not in resp.text and "market" not in resp.text


def test_revoked_and_expired_recipients_get_403(app_client: TestClient, shared: Any,
                                                profile: dict[str, Any]) -> None:
    url = _lines(app_client.post(f"{TABLE}/query", headers=_auth(profile), json={}))[2]["file"]["url"]
    shared.delta_sharing.revoke_recipient("analyst_r")
    resp = app_client.post(f"{TABLE}/query", headers=_auth(profile), json={})
    assert resp.status_code == 403 and resp.json()["errorCode"] == "PERMISSION_DENIED"
    assert app_client.get(url).status_code == 403  # outstanding file URLs stop too
    _, path = shared.delta_sharing.add_recipient("short_r", "analyst1", endpoint="http://x/delta-sharing",
                                                 expires=timedelta(seconds=-1))
    expired = json.loads(Path(path).read_text())
    assert app_client.get(f"{BASE}/shares", headers=_auth(expired)).status_code == 403
    calls = [e for e in _events(shared, "api.call") if str(e.details.get("route", "")).startswith(BASE)]
    assert [e.details["status"] for e in calls] == [200, 403, 403, 403]
    assert calls[0].actor == "analyst1" and calls[0].details["recipient"] == "analyst_r"
    assert calls[2].details["route"].startswith(f"{BASE}/files/")
    assert {e.actor for e in calls[1:]} == {"anonymous"}  # refused before they named a principal
    assert [e.details["principal"] for e in _events(shared, "delta.recipient.revoke")] == ["analyst1"]


def _events(fabric: Any, action: str) -> list[Any]:
    from sqlalchemy import select

    from govfabric.auth.models import AuditEvent

    with fabric.store.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        s.expunge_all()
        return rows


def test_predicate_hints_narrow_best_effort_and_never_on_masked_columns(app_client: TestClient,
                                                                        profile: dict[str, Any]) -> None:
    def rows(hint: dict[str, Any]) -> int:
        body = {"jsonPredicateHints": json.dumps(hint)}
        file = _lines(app_client.post(f"{TABLE}/query", headers=_auth(profile), json=body))[2]["file"]
        return int(json.loads(file["stats"])["numRecords"])

    everything = rows({"op": "unknownOp"})
    assert everything > 0
    assert rows({"op": "equal", "children": [{"op": "column", "name": "district", "valueType": "string"},
                                             {"op": "literal", "value": "no such", "valueType": "string"}]}) == 0
    # a masked column is never filtered on (its raw values would leak through row counts)
    assert rows({"op": "equal", "children": [{"op": "column", "name": MASKED, "valueType": "string"},
                                             {"op": "literal", "value": "x", "valueType": "string"}]}) == everything


def test_rate_limits_apply_to_recipients(shared: Any, profile: dict[str, Any]) -> None:
    from govfabric.fabric import Fabric, connect
    from govfabric.server.app import create_app

    admin = connect(shared.settings.home)
    origin = Fabric(admin.settings.model_copy(update={"rate_limit": "2/minute"}), admin.user)
    with TestClient(create_app(origin)) as client:
        got = [client.get(f"{BASE}/shares", headers=_auth(profile)).status_code for _ in range(3)]
    admin.close()
    assert got == [200, 200, 429]
