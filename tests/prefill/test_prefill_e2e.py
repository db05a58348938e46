"""The prefill routes end to end through the REAL app (``create_app``: middleware, RFC 9421
signatures, bearer tokens, error handlers, audit), called by ``govfabric.client.Client``: the item's
service principal is a signed app; an applicant and an auditor call with bearer tokens."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prefill_world import World, item_doc

from govfabric.auth import apps, tokens
from govfabric.client import Client
from govfabric.errors import AccessDenied, ValidationFailed
from govfabric.identifiers import generate_uscc
from tests.infra.serving import InProcess

APP = "prefill_app"
OTHER = generate_uscc(random.Random(99), "110105")


@pytest.fixture
def served(world: World) -> Iterator[tuple[World, Any, Any]]:
    from govfabric.server.app import create_app
    admin = world.steward.as_user("admin")
    issued = apps.add(admin, APP, department="北京市政务服务管理局")
    world.steward.access.grant(APP, "market.enterprise", unmasked=["legal_rep_id"])
    world.steward.as_user("steward_ps").access.grant(APP, "ps.person", unmasked=["id_number"])
    world.steward.prefill.create(item_doc(principal=APP))
    admin.add_principal("legal_rep", ["analyst"], kind="person", attributes={"applicant_id": world.uscc})
    with TestClient(create_app(admin), base_url="http://testserver", raise_server_exceptions=False) as http:
        def person(name: str) -> Client:
            token, _ = tokens.create(admin.as_user(name))
            return Client("http://testserver", token=token, transport=InProcess(http))

        yield world, Client("http://testserver", issued.key_id, issued.secret, transport=InProcess(http)), person


def test_signed_prefill_consent_values_masks_provenance_and_history(served: tuple[World, Any, Any]) -> None:
    world, app, person = served
    with pytest.raises(AccessDenied) as refused:
        app.post("/api/v1/prefill/open_business", json={"applicant_id": world.uscc})
    assert refused.value.status == 403 and "missing consent for" in str(refused.value)
    assert "field:ent_name" in str(refused.value) and "licence:11100000000000001" in str(refused.value)
    with pytest.raises(ValidationFailed):
        app.post("/api/v1/prefill/open_business", json={"applicant_id": world.uscc[:-1] + "#"})
    from govfabric.prefill.spec import check_structure

    spec, _ = check_structure(item_doc(principal=APP))
    assert spec is not None
    world.steward.security.consent.give(world.uscc, "开办企业", spec.consent_scope(), APP)
    got = app.post("/api/v1/prefill/open_business", json={"applicant_id": world.uscc, "scenario": "new"})
    fields = {f["name"]: f for f in got["fields"]}
    assert fields["ent_name"]["value"] == world.row["name"] and fields["ent_name"]["editable"] is False
    rep = fields["rep_id"]
    assert rep["value"] == world.rep_id and rep["mask"] == "id_number" and rep["display"] != world.rep_id
    assert fields["rep_name"]["provenance"]["table"] == "ps.person"
    assert fields["rep_name"]["provenance"]["department"] == "公安局" and fields["rep_name"]["provenance"]["as_of"]
    assert fields["contact"]["status"] == "applicant"
    assert {m["name"]: m["status"] for m in got["materials"]}["premises"] == "deferred"
    mine = person("legal_rep").get("/api/v1/prefill/history")
    assert [h["status"] for h in mine] == ["refused", "filled"] and mine[1]["by"] == APP
    with pytest.raises(AccessDenied):
        person("legal_rep").get("/api/v1/prefill/history", params={"applicant": OTHER})
    assert len(person("auditor1").get("/api/v1/prefill/history", params={"applicant": world.uscc})) == 2
    with pytest.raises(AccessDenied):  # the app itself reads no history
        app.get("/api/v1/prefill/history", params={"applicant": world.uscc})
