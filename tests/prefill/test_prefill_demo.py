"""The two bundled "一件事" items on the demo workspace, end to end from Python and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from govfabric.cli.main import app as cli
from govfabric.prefill.demo import PRINCIPAL, install_demo_items


def test_demo_items_prefill_end_to_end(demo: Any, demo_home: Path) -> None:
    admin = demo.as_user("admin")
    made = install_demo_items(admin)
    assert made["items"] == ["kaiban_qiye", "xinshenger_chusheng"]
    assert install_demo_items(admin)["items"] == []  # idempotent
    svc = demo.as_user(PRINCIPAL)
    ent = demo.sql("SELECT uscc, name FROM market.enterprise_register WHERE status = '存续' ORDER BY uscc LIMIT 1"
                   ).to_pylist()[0]
    kaiban = svc.prefill.spec("kaiban_qiye")
    demo.security.consent.give(ent["uscc"], kaiban.purpose, kaiban.consent_scope(), PRINCIPAL)
    got = svc.prefill.run("kaiban_qiye", ent["uscc"])
    f = {x["name"]: x for x in got["fields"]}
    assert f["ent_name"]["value"] == ent["name"] and f["rep_name"]["status"] == "filled"
    assert got["eligibility"]["eligible"] is True
    m = {x["name"]: x["status"] for x in got["materials"]}
    assert m["articles"] == "needed" and m["premises"] == "deferred"

    person = demo.as_user("steward_ps").sql(
        "SELECT id_number FROM population.person WHERE household_division LIKE '11%' ORDER BY id_number LIMIT 1"
    ).column(0)[0].as_py()
    birth = svc.prefill.spec("xinshenger_chusheng")
    demo.security.consent.give(person, birth.purpose, birth.consent_scope(), PRINCIPAL)
    r = CliRunner().invoke(cli, ["--home", str(demo_home), "--as", PRINCIPAL, "prefill", "run", "xinshenger_chusheng",
                                 "--applicant", person, "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    f = {x["name"]: x for x in got["fields"]}
    assert f["household_address"]["status"] == "filled" and f["household_address"]["display"].endswith("*")
    assert f["baby_name"]["status"] == "applicant"
