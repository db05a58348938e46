"""Signed app requests through the real middleware: good ones act as the app; every broken one is
a 401 with its reason code."""

from __future__ import annotations

import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient

from govfabric.auth import apps
from tests.server.conftest import signed

URL = "http://testserver/api/v1/whoami"


def send(client: TestClient, request: httpx.Request) -> httpx.Response:
    return client.send(request)


def test_a_signed_request_acts_as_the_app(app_client: TestClient, gs_app: apps.Issued) -> None:
    r = send(app_client, signed(app_client.build_request("GET", URL), gs_app))
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "gs_system", "kind": "business_system", "roles": ["business_system"],
                        "department": "市场监管局"}


def test_sm3_apps_sign_with_hmac_sm3(served: Any, app_client: TestClient) -> None:
    issued = apps.add(served, "sm3_system", department="市场监管局", alg="hmac-sm3")
    r = send(app_client, signed(app_client.build_request("GET", URL), issued))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "sm3_system"
    # the same request signed with hmac-sha256 under the SM3 app's key is refused
    wrong = apps.Issued(issued.name, issued.key_id, issued.secret, "hmac-sha256")
    assert send(app_client, signed(app_client.build_request("GET", URL), wrong)).json()["code"] == "signature_invalid"


def code(r: httpx.Response) -> str:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    return body["code"]


def test_no_credentials_is_authentication_required(app_client: TestClient) -> None:
    assert code(app_client.get("/api/v1/whoami")) == "authentication_required"


def test_expired_and_future_signatures(app_client: TestClient, gs_app: apps.Issued) -> None:
    old = datetime.datetime.now() - datetime.timedelta(seconds=400)
    expired = signed(app_client.build_request("GET", URL), gs_app, created=old)
    assert code(send(app_client, expired)) == "signature_expired"
    ahead = datetime.datetime.now() + datetime.timedelta(seconds=120)
    assert code(send(app_client, signed(app_client.build_request("GET", URL), gs_app, created=ahead))) == "clock_skew"


def test_a_replayed_nonce_is_refused(app_client: TestClient, gs_app: apps.Issued) -> None:
    request = signed(app_client.build_request("GET", URL), gs_app)
    assert send(app_client, request).status_code == 200
    assert code(send(app_client, request)) == "nonce_replayed"


def test_tampered_body_target_and_method(app_client: TestClient, gs_app: apps.Issued) -> None:
    original = signed(app_client.build_request("POST", URL, content=b'{"a":1}'), gs_app)
    body = app_client.build_request("POST", URL, content=b'{"a":2}', headers=original.headers)
    assert code(send(app_client, body)) == "digest_mismatch"
    target = app_client.build_request("POST", URL + "?x=1", content=b'{"a":1}', headers=original.headers)
    assert code(send(app_client, target)) == "signature_invalid"
    method = app_client.build_request("PUT", URL, content=b'{"a":1}', headers=original.headers)
    assert code(send(app_client, method)) == "signature_invalid"


def test_a_body_must_be_covered_by_a_digest(app_client: TestClient, gs_app: apps.Issued) -> None:
    from govfabric.auth import httpsig

    request = app_client.build_request("POST", URL, content=b'{"a":1}')
    signer = httpsig.HTTPMessageSigner(signature_algorithm=httpsig.HMAC_SHA256,
                                       key_resolver=httpsig._OneKey(gs_app.key_id, gs_app.secret.encode()))
    signer.sign(request, key_id=gs_app.key_id, nonce="n" * 16, covered_component_ids=("@method", "@target-uri"))
    assert code(send(app_client, request)) in ("signature_incomplete", "signature_invalid")


def test_unknown_key_disabled_app_and_rotation(served: Any, app_client: TestClient, gs_app: apps.Issued) -> None:
    stranger = apps.Issued("x", "app_0000000000000000", gs_app.secret, "hmac-sha256")
    assert code(send(app_client, signed(app_client.build_request("GET", URL), stranger))) == "unknown_key"
    apps.set_active(served, "gs_system", False)
    assert code(send(app_client, signed(app_client.build_request("GET", URL), gs_app))) == "app_disabled"
    apps.set_active(served, "gs_system", True)
    rotated = apps.rotate(served, "gs_system")
    assert code(send(app_client, signed(app_client.build_request("GET", URL), gs_app))) == "unknown_key"
    assert send(app_client, signed(app_client.build_request("GET", URL), rotated)).status_code == 200


def test_missing_signature_header_and_garbage(app_client: TestClient) -> None:
    r = app_client.get("/api/v1/whoami", headers={"Signature-Input": 'sig=("@method")'})
    assert code(r) == "signature_missing"
    r = app_client.get("/api/v1/whoami", headers={"Signature-Input": "((((", "Signature": "x"})
    assert code(r) == "signature_invalid"


def test_a_kept_credential_follows_disable_enable_and_rotate(served: Any, app_client: TestClient,
                                                               gs_app: apps.Issued) -> None:
    """The server keeps an app's credential between requests; every change to it is seen at once."""
    def status_of(issued: apps.Issued) -> Any:
        r = send(app_client, signed(app_client.build_request("GET", URL), issued))
        return r.status_code if r.status_code == 200 else code(r)

    assert status_of(gs_app) == 200
    apps.set_active(served, "gs_system", False)
    assert status_of(gs_app) == "app_disabled"
    apps.set_active(served, "gs_system", True)
    assert status_of(gs_app) == 200
    rotated = apps.rotate(served, "gs_system")
    assert status_of(gs_app) == "unknown_key"
    assert status_of(rotated) == 200
