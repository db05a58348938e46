"""Who reads an applicant's licences and prefill history (issue 13 items 2 and 4).

Licences: the holder (a person principal an admin linked with ``applicant_id``), the issuing
department's stewards, auditors and admins, and an item's service principal for an applicant who
consented to that licence type for that item. History: stewards, auditors and admins any
applicant's; a linked applicant only their own."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from prefill_world import SERVICE, World, consent, item_doc
from test_prefill_api import TYPE, _cli
from test_prefill_api import _import as import_licence

from govfabric.errors import AccessDenied
from govfabric.identifiers import generate_uscc
from govfabric.prefill.router import router

OTHER = generate_uscc(random.Random(99), "110105")


def _person(w: World, name: str, applicant: str | None, kind: str = "person") -> Any:
    attrs = {"applicant_id": applicant} if applicant else {}
    w.steward.as_user("admin").add_principal(name, ["analyst"], kind=kind, attributes=attrs)
    return w.steward.as_user(name)


@pytest.fixture
def licensed(world: World, tmp_path: Path) -> tuple[World, str]:
    import_licence(world, tmp_path)
    world.steward.prefill.create(item_doc())
    [view] = world.steward.licences.for_holder(world.uscc)
    return world, view.id


def test_a_business_system_reads_licences_only_for_a_consented_item(licensed: tuple[World, str]) -> None:
    w, lid = licensed
    lib = w.service.licences
    for read in (lambda: lib.for_holder(w.uscc), lambda: lib.get(lid), lambda: lib.verify(lid)):
        with pytest.raises(AccessDenied, match="may not read e-licences"):
            read()  # the old code let any business_system read any holder's licences
    with pytest.raises(AccessDenied, match="has not consented"):
        lib.for_holder(w.uscc, item="open_business")
    consent(w)
    [view] = lib.for_holder(w.uscc, item="open_business")
    assert view.id == lid and view.type_code == TYPE
    assert lib.verify(lid, item="open_business").ok and lib.get(lid, item="open_business").id == lid
    other = "bizsys_other"
    w.steward.as_user("admin").add_principal(other, ["business_system"], kind="business_system")
    with pytest.raises(AccessDenied, match="only its service principal"):
        w.steward.as_user(other).licences.for_holder(w.uscc, item="open_business")


def test_licence_types_outside_the_consent_stay_hidden(licensed: tuple[World, str]) -> None:
    w, lid = licensed
    consent(w, scope=[s for s in item_doc_scope() if not s.startswith("licence:")])
    with pytest.raises(AccessDenied, match="has not consented"):
        w.service.licences.verify(lid, item="open_business")
    with pytest.raises(AccessDenied, match="missing consent for licence:"):
        w.service.prefill.run("open_business", w.uscc)  # the run itself is refused too


def item_doc_scope() -> list[str]:
    from govfabric.prefill.spec import check_structure

    spec, _ = check_structure(item_doc())
    assert spec is not None
    return spec.consent_scope()


def test_holder_stewards_and_auditors(licensed: tuple[World, str]) -> None:
    w, lid = licensed
    holder = _person(w, "legal_rep", w.uscc)
    assert [v.id for v in holder.licences.for_holder(w.uscc)] == [lid] and holder.licences.verify(lid).ok
    stranger = _person(w, "someone_else", OTHER)
    with pytest.raises(AccessDenied):
        stranger.licences.for_holder(w.uscc)
    with pytest.raises(AccessDenied):
        stranger.licences.get(lid)
    app = _person(w, "an_app", w.uscc, kind="application")  # only a person is an applicant
    with pytest.raises(AccessDenied):
        app.licences.for_holder(w.uscc)
    ps = w.steward.as_user("steward_ps")  # a steward of another department
    assert ps.licences.for_holder(w.uscc) == []
    with pytest.raises(AccessDenied, match="another department"):
        ps.licences.describe(lid)
    assert w.steward.as_user("auditor1").licences.get(lid).id == lid


def test_cli_licence_reads_for_an_item(licensed: tuple[World, str], demo_home: Path) -> None:
    w, lid = licensed
    r = _cli(demo_home, "licence", "list", "--holder", w.uscc, user=SERVICE, ok=False)
    assert "may not read e-licences" in str(r.exception) and "Traceback" not in r.output
    consent(w)
    rows = json.loads(_cli(demo_home, "licence", "list", "--holder", w.uscc, "--item", "open_business", "--json",
                           user=SERVICE).output)
    assert [row["id"] for row in rows] == [lid]
    assert "verified" in _cli(demo_home, "licence", "verify", lid, "--item", "open_business", user=SERVICE).output


# -- history ------------------------------------------------------------------------------------------

def test_an_applicant_reads_only_their_own_history(world: World, router_client: Any) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    world.service.prefill.run("open_business", world.uscc)
    me = _person(world, "legal_rep", world.uscc)
    mine = me.prefill.history()
    assert [h["status"] for h in mine] == ["filled"] and me.prefill.history(world.uscc.lower()) == mine
    with pytest.raises(AccessDenied, match="only their own"):
        me.prefill.history(OTHER)  # someone else's history
    with pytest.raises(AccessDenied):
        _person(world, "nobody", None).prefill.history(world.uscc)
    with pytest.raises(AccessDenied):
        _person(world, "an_app", world.uscc, kind="application").prefill.history(world.uscc)
    assert len(world.steward.as_user("auditor1").prefill.history(world.uscc)) == 1
    assert len(world.steward.as_user("admin").prefill.history(world.uscc)) == 1
    http = router_client(world.steward, router, "legal_rep")
    assert [h["status"] for h in http.get("/api/v1/prefill/history").json()] == ["filled"]
    assert http.get("/api/v1/prefill/history", params={"applicant": OTHER}).status_code == 403
    auditor = router_client(world.steward, router, "auditor1")
    assert auditor.get("/api/v1/prefill/history").status_code == 422  # an auditor says whose


def test_cli_applicant_history(world: World, demo_home: Path) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    world.service.prefill.run("open_business", world.uscc)
    _person(world, "legal_rep", world.uscc)
    hist = json.loads(_cli(demo_home, "prefill", "history", "--json", user="legal_rep").output)
    assert len(hist) == 1 and hist[0]["by"] == SERVICE
    r = _cli(demo_home, "prefill", "history", "--applicant", OTHER, user="legal_rep", ok=False)
    assert "only their own" in str(r.exception)
