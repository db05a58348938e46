"""The prefill services from the CLI (``item``, ``prefill``) and HTTP (a bare app with the server's
error handlers and the prefill router, the caller fixed), and licence attachment.

LICENCE TESTS USE A TEST-ONLY FAKE of the licence library's façade contract (``fabric.licences``:
``for_holder``, ``verify``), installed with monkeypatch until the real library (helper `licence`,
``govfabric/prefill/licences/``) is merged; the lead replaces ``_fake_library`` with real imports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prefill_world import SERVICE, World, consent, item_doc
from typer.testing import CliRunner

from govfabric.cli.main import app as cli
from govfabric.fabric import Fabric
from govfabric.prefill.router import router
from govfabric.server import errors

runner = CliRunner()


def _client(fabric: Fabric, principal: str) -> TestClient:
    app = FastAPI()
    errors.install(app)
    app.include_router(router)
    app.state.fabrics = fabric.as_user

    @app.middleware("http")
    async def _as(request: Request, call_next):  # type: ignore[no-untyped-def]
        request.state.principal = principal
        request.state.request_id = "test-request"
        return await call_next(request)

    return TestClient(app, raise_server_exceptions=False)


def test_http_prefill_history_and_item(world: World) -> None:
    world.steward.prefill.create(item_doc())
    svc = _client(world.steward, SERVICE)
    r = svc.post("/api/v1/prefill/open_business", json={"applicant_id": world.uscc})
    assert r.status_code == 403 and "missing consent for" in r.json()["message"] + str(r.json())
    bad = world.uscc[:-1] + ("0" if world.uscc[-1] != "0" else "1")
    assert svc.post("/api/v1/prefill/open_business", json={"applicant_id": bad}).status_code == 422
    consent(world)
    r = svc.post("/api/v1/prefill/open_business", json={"applicant_id": world.uscc, "scenario": "new"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {f["name"]: f["value"] for f in body["fields"]}["ent_name"] == world.row["name"]
    assert any(m["status"] == "deferred" for m in body["materials"])
    steward = _client(world.steward, "steward_mr")
    hist = steward.get("/api/v1/prefill/history", params={"applicant": world.uscc}).json()
    assert [h["status"] for h in hist] == ["refused", "filled"] and "ent_name" in hist[1]["fields"]
    assert svc.get("/api/v1/prefill/history", params={"applicant": world.uscc}).status_code == 403
    item = svc.get("/api/v1/items/open_business").json()
    assert item["version"] == 1 and "field:ent_name" in item["consent_scope"]
    assert svc.get("/api/v1/items/nope").status_code == 404
    assert svc.post("/api/v1/prefill/open_business", json={"applicant_id": 1}).status_code == 422  # strict


def _cli(home: Path, *args: str, user: str = "steward_mr", ok: bool = True) -> Any:
    r = runner.invoke(cli, ["--home", str(home), "--as", user, *args])
    assert (r.exit_code == 0) is ok, r.output
    return r


def test_cli_item_and_prefill(world: World, demo_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "item.yaml"
    spec.write_text(yaml.safe_dump(item_doc(), allow_unicode=True), encoding="utf-8")
    assert "is valid" in _cli(demo_home, "item", "validate", "--spec", str(spec)).output
    broken = item_doc()
    broken["fields"][1]["source"]["column"] = "nope"
    broken["fields"].append({"name": "orphan", "component": "text", "shared": True})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    r = _cli(demo_home, "item", "create", "--spec", str(bad), ok=False)
    assert "nope" in str(r.exception) and "orphan" in str(r.exception) and "Traceback" not in r.output
    (tmp_path / "syntax.yaml").write_text("name: [unclosed", encoding="utf-8")
    r = _cli(demo_home, "item", "validate", "--spec", str(tmp_path / "syntax.yaml"), ok=False)
    assert "not valid YAML" in str(r.exception)
    assert json.loads(_cli(demo_home, "item", "list", "--json").output) == []
    _cli(demo_home, "item", "create", "--spec", str(spec))
    assert json.loads(_cli(demo_home, "item", "show", "open_business", "--json").output)["version"] == 1
    assert "Materials" in _cli(demo_home, "item", "show", "open_business").output
    consent(world)
    got = json.loads(_cli(demo_home, "prefill", "run", "open_business", "--applicant", world.uscc, "--scenario",
                          "new", "--json", user=SERVICE).output)
    assert {f["name"]: f["status"] for f in got["fields"]}["ent_name"] == "filled"
    assert "Materials" in _cli(demo_home, "prefill", "run", "open_business", "--applicant", world.uscc,
                          user=SERVICE).output
    hist = json.loads(_cli(demo_home, "prefill", "history", "--applicant", world.uscc, "--json",
                           user="auditor1").output)
    assert len(hist) == 2 and hist[0]["by"] == SERVICE
    rem = json.loads(_cli(demo_home, "prefill", "reminders", "--json").output)
    assert [m["material"] for m in rem] == ["premises", "premises"]


# -- licences: TEST-ONLY FAKE of the façade contract, until the real library is merged ------------

@dataclass
class _Licence:
    id: str
    identifier: str
    type_code: str
    holder_id: str
    status: str = "valid"
    valid_until: date | None = None
    type_name: str = "营业执照"
    holder_name: str = "测试企业"
    authority: str = "北京市市场监督管理局"
    authority_code: str = "11110000000000000X"
    issued_on: date = date(2020, 1, 1)
    valid_from: date = date(2020, 1, 1)
    sha256: str = "0" * 64
    sm3: str = "0" * 64
    file_name: str = "licence.pdf"


@dataclass
class _Verification:
    ok: bool
    reasons: list[str]
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class _FakeLibrary:
    def __init__(self, licences: list[_Licence]) -> None:
        self.licences = {lic.id: lic for lic in licences}

    def for_holder(self, holder_id: str) -> list[_Licence]:
        return [lic for lic in self.licences.values() if lic.holder_id == holder_id]

    def verify(self, licence_id: str) -> _Verification:
        lic = self.licences[licence_id]
        reasons = []
        if lic.status != "valid":
            reasons.append(f"status is {lic.status}")
        if lic.valid_until and lic.valid_until < date.today():
            reasons.append(f"expired on {lic.valid_until}")
        return _Verification(not reasons, reasons)


def _fake_library(monkeypatch: pytest.MonkeyPatch, licences: list[_Licence]) -> None:
    lib = _FakeLibrary(licences)
    monkeypatch.setattr(Fabric, "licences", property(lambda self: lib), raising=False)


TYPE = "11100000000000001X"


def test_a_verified_licence_is_attached(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_library(monkeypatch, [_Licence("l1", "LIC-1", TYPE, world.uscc)])
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    lic = next(m for m in got["materials"] if m["name"] == "licence")
    assert lic["status"] == "attached" and lic["licence"]["identifier"] == "LIC-1" and lic["verification"]["ok"]
    assert world.steward.prefill.history(world.uscc)[-1]["licences"] == [TYPE]


@pytest.mark.parametrize(("licence", "reason"), [
    (_Licence("l1", "LIC-1", TYPE, "", status="revoked"), "status is revoked"),
    (_Licence("l1", "LIC-1", TYPE, "", valid_until=date(2001, 1, 1)), "expired on 2001-01-01"),
])
def test_revoked_or_expired_licences_are_not_attached(world: World, monkeypatch: pytest.MonkeyPatch,
                                                      licence: _Licence, reason: str) -> None:
    licence.holder_id = world.uscc
    _fake_library(monkeypatch, [licence])
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    lic = next(m for m in got["materials"] if m["name"] == "licence")
    assert lic["status"] == "needed" and reason in lic["reason"] and "licence" not in lic
    assert world.steward.prefill.history(world.uscc)[-1]["licences"] == []
