"""An attacker's pass over the session-5 surfaces (portal, Delta Sharing, open data, topics, routing,
prefill, the share process), holding a narrow grant. Each test is a probe that once got through, or
one no other test covered; probes already covered elsewhere are named in the report, not repeated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.sharing_modes.delta_sharing.conftest import shared  # noqa: F401  (the fixture)

DS = "/delta-sharing"
DS_TABLE = f"{DS}/shares/gov/schemas/market/tables/enterprise"


@pytest.fixture
def ds_client(shared: Any) -> Iterator[TestClient]:  # noqa: F811
    from govfabric.fabric import connect
    from govfabric.server.app import create_app

    origin = connect(shared.settings.home)
    with TestClient(create_app(origin)) as client:
        client.world = shared  # type: ignore[attr-defined]
        yield client


def _file_url(client: TestClient, token: str) -> str:
    answer = client.post(f"{DS_TABLE}/query", headers={"Authorization": f"Bearer {token}"}, json={})
    assert answer.status_code == 200, answer.text
    return [json.loads(x) for x in answer.text.splitlines() if x][2]["file"]["url"]


def _recipient(world: Any, name: str = "analyst_r", **kw: Any) -> str:
    _, path = world.delta_sharing.add_recipient(name, "analyst1", endpoint="http://testserver/delta-sharing", **kw)
    return str(json.loads(Path(path).read_text())["bearerToken"])


# -- Delta Sharing: an outstanding file URL outlives what made it ------------------------------------


def test_delta_file_url_stops_when_the_grant_is_revoked(ds_client: TestClient) -> None:
    """The steward revokes analyst1's grant; the file URL handed out a minute before must not keep
    serving the rows (it needs no bearer token and lives an hour)."""
    world = ds_client.world  # type: ignore[attr-defined]
    url = _file_url(ds_client, _recipient(world))
    assert ds_client.get(url).status_code == 200
    world.access.revoke(world.access.grants(grantee="analyst1")[0].id)
    resp = ds_client.get(url)
    assert resp.status_code == 403 and b"PAR1" not in resp.content
    assert resp.json()["errorCode"] == "PERMISSION_DENIED"


def test_delta_file_url_stops_when_the_grant_narrows(ds_client: TestClient) -> None:
    """A mask added after the URL was issued: the clear file must not be served any more."""
    world = ds_client.world  # type: ignore[attr-defined]
    url = _file_url(ds_client, _recipient(world))
    world.access.set_mask("market.enterprise", "name", "full")
    assert ds_client.get(url).status_code == 403


def test_delta_file_url_stops_when_the_principal_is_disabled(ds_client: TestClient) -> None:
    world = ds_client.world  # type: ignore[attr-defined]
    url = _file_url(ds_client, _recipient(world))
    from govfabric.auth import principals

    with world.store.session() as s:
        principals.set_active(s, "admin", "analyst1", False)
    assert ds_client.get(url).status_code == 403


# -- Delta Sharing: a steward of one department minting a way into another's data -------------------


@pytest.mark.parametrize("principal", ["steward_ps", "admin", "auditor1"])
def test_a_steward_cannot_mint_a_recipient_acting_as_a_privileged_principal(shared: Any, principal: str) -> None:  # noqa: F811
    """A recipient's token acts as its principal and the profile lands with the steward who made it:
    one acting as another department's steward (or an admin) would read that department's data in
    full. Recipients are consumers; only an admin issues one for a privileged principal."""
    from govfabric.errors import AccessDenied

    with pytest.raises(AccessDenied, match="consumer"):
        shared.delta_sharing.add_recipient("mine", principal, endpoint="http://x/delta-sharing")
    assert not [r for r in shared.as_user("admin").delta_sharing.recipients() if r.name == "mine"]


def test_a_steward_cannot_share_another_departments_table(shared: Any) -> None:  # noqa: F811
    from govfabric.errors import AccessDenied

    ps = shared.as_user("steward_ps")
    ps.virtual.create_table("ps.person", "ps_db.main.t_rk_jbxx")
    with pytest.raises(AccessDenied):
        shared.delta_sharing.add_table("gov.ps.person", "ps.person")  # steward_mr, market regulation
    ps.delta_sharing.create_share("ps")
    ps.delta_sharing.add_table("ps.ps.person", "ps.person")  # its own department's steward may


def test_another_departments_steward_cannot_revoke_a_recipient(shared: Any) -> None:  # noqa: F811
    """Revoking cuts a consumer off: the maker's department's stewards (or an admin) decide it."""
    from govfabric.errors import AccessDenied

    _recipient(shared)
    with pytest.raises(AccessDenied):
        shared.as_user("steward_ps").delta_sharing.revoke_recipient("analyst_r")
    assert shared.delta_sharing.revoke_recipient("analyst_r").revoked_at is not None  # its maker may


# -- Delta Sharing: a steward's token acting as a consumer (session 7) -----------------------------------


def _names(client: TestClient, token: str) -> list[str]:
    answer = client.get(f"{DS}/shares", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return [s["name"] for s in answer.json()["items"]]


def test_a_stewards_recipient_reads_only_its_own_departments_tables(ds_client: TestClient) -> None:
    """steward_mr makes a recipient acting as analyst1, and its profile lands with steward_mr. Public
    security also shared a table with analyst1: through that token steward_mr would read it, which
    steward_mr may not. A steward's recipient reads only its own department's tables (within the
    consumer's grants); an admin's reads whatever the consumer may."""
    world = ds_client.world  # type: ignore[attr-defined]
    ps = world.as_user("steward_ps")
    ps.virtual.create_table("ps.person", "ps_db.main.t_rk_jbxx")
    ps.access.grant("analyst1", "ps.person")
    ps.delta_sharing.create_share("ps")
    ps.delta_sharing.add_table("ps.ps.person", "ps.person")

    token = _recipient(world)  # made by steward_mr (market regulation)
    assert _names(ds_client, token) == ["gov"]
    h = {"Authorization": f"Bearer {token}"}
    for path in (f"{DS}/shares/ps", f"{DS}/shares/ps/all-tables", f"{DS}/shares/ps/schemas/ps/tables/person/metadata"):
        assert ds_client.get(path, headers=h).status_code == 404, path
    denied = ds_client.post(f"{DS}/shares/ps/schemas/ps/tables/person/query", headers=h, json={})
    assert denied.status_code == 404 and "PAR1" not in denied.text

    assert _names(ds_client, _recipient(world.as_user("admin"), "admin_r")) == ["gov", "ps"]
    assert _names(ds_client, _recipient(ps, "ps_r")) == ["ps"]


def test_a_stewards_recipient_stops_when_the_steward_is_deactivated(ds_client: TestClient) -> None:
    world = ds_client.world  # type: ignore[attr-defined]
    token = _recipient(world)
    url = _file_url(ds_client, token)
    assert ds_client.get(url).status_code == 200
    from govfabric.auth import principals

    with world.store.session() as s:
        principals.set_active(s, "admin", "steward_mr", False)
    assert ds_client.get(url).status_code == 403
    assert _names(ds_client, token) == []
