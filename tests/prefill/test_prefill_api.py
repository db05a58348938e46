"""The prefill services from the CLI (``item``, ``prefill``) and HTTP (a bare app with the server's
error handlers and the prefill router, the caller fixed), and licence attachment.

Licences come from the real e-licence library (``govfabric/prefill/licences``), imported by the
issuing department's steward."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefill_world import SERVICE, World, consent, item_doc
from typer.testing import CliRunner

from govfabric.cli.main import app as cli
from govfabric.prefill.router import router

runner = CliRunner()


def test_http_prefill_history_and_item(world: World, router_client: Any) -> None:
    world.steward.prefill.create(item_doc())
    svc = router_client(world.steward, router, SERVICE)
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
    steward = router_client(world.steward, router, "steward_mr")
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


# -- licences: the real e-licence library (govfabric/prefill/licences), licences imported by the steward --

def _import(world: World, tmp_path: Path, *, status: str = "有效", valid_until: str = "") -> None:
    """One 营业执照 for the world's enterprise, with its file, imported as market regulation's steward."""
    import csv
    import io
    import random

    from govfabric.identifiers import generate_uscc
    from govfabric.prefill.licences.identifier import make_identifier

    authority = generate_uscc(random.Random(7), "110105", authority="1", entity_type="1", org_code="00000077")
    files = tmp_path / "licence-files"
    files.mkdir(exist_ok=True)
    (files / "yyzz.pdf").write_bytes(b"%PDF-1.4 licence of " + world.uscc.encode())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["证照标识", "证照类型代码", "证照名称", "持证主体", "持证主体代码", "颁发机构", "颁发机构代码",
                "颁发日期", "有效期起始", "有效期截止", "证照状态", "文件"])
    w.writerow([make_identifier(TYPE, authority, "00000001"), TYPE, "营业执照", world.row["name"], world.uscc,
                "北京市朝阳区市场监督管理局", authority, "2000-01-01", "2000-01-01", valid_until, status, "yyzz.pdf"])
    src = tmp_path / "licences.csv"
    src.write_text(buf.getvalue(), encoding="utf-8")
    world.steward.licences.import_file(src, files=files)


TYPE = "11100000000000001"


def test_a_verified_licence_is_attached(world: World, tmp_path: Path) -> None:
    _import(world, tmp_path)
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    lic = next(m for m in got["materials"] if m["name"] == "licence")
    assert lic["status"] == "attached" and lic["licence"]["identifier"].startswith(f"1.2.156.3005.2.{TYPE}.")
    assert lic["verification"]["ok"]
    assert world.steward.prefill.history(world.uscc)[-1]["licences"] == [TYPE]


@pytest.mark.parametrize(("status", "valid_until", "reason"), [
    ("吊销", "", "the licence is revoked"),
    ("有效", "2001-01-01", "expired on 2001-01-01"),
])
def test_revoked_or_expired_licences_are_not_attached(world: World, tmp_path: Path, status: str,
                                                      valid_until: str, reason: str) -> None:
    _import(world, tmp_path, status=status, valid_until=valid_until)
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    lic = next(m for m in got["materials"] if m["name"] == "licence")
    assert lic["status"] == "needed" and reason in lic["reason"] and "licence" not in lic
    assert world.steward.prefill.history(world.uscc)[-1]["licences"] == []
