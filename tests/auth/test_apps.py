"""Apps: who may manage them, secrets never stored plain, every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from govfabric.auth import apps
from govfabric.auth.models import AppCredential, AuditEvent
from govfabric.errors import AccessDenied, AlreadyExists, ValidationFailed


def test_add_seals_the_secret_and_audits(workspace) -> None:
    issued = apps.add(workspace, "gs_system", department="市场监管局", alg="hmac-sm3")
    with workspace.store.session() as s:
        row = s.scalar(select(AppCredential).where(AppCredential.principal == "gs_system"))
        dump = " ".join(str(v) for r in s.execute(text("SELECT * FROM auth_apps")) for v in r)
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "app.add")).one()
    assert issued.secret not in dump and row.secret_sealed != issued.secret
    assert workspace.secrets.open(row.secret_sealed) == issued.secret
    assert issued.secret not in str(event.details) and event.details["key_id"] == issued.key_id
    kinds = {p.name: p.kind for p in workspace.principals()}
    assert kinds["gs_system"] == "business_system"
    cred = apps.credential(workspace, issued.key_id)
    assert cred is not None and cred.secret == issued.secret.encode() and cred.alg == "hmac-sm3"
    assert apps.credential(workspace, "app_unknown") is None


def test_stewards_manage_their_departments_apps_only(workspace, steward, analyst) -> None:
    apps.add(steward, "own_system", department="市场监管局")
    with pytest.raises(AccessDenied):
        apps.add(steward, "their_system", department="发展改革委")
    apps.add(workspace, "their_system", department="发展改革委")
    with pytest.raises(AccessDenied):
        apps.rotate(steward, "their_system")
    with pytest.raises(AccessDenied):
        apps.set_active(steward, "their_system", False)
    assert [a.name for a in apps.list_apps(steward)] == ["own_system"]
    assert [a.name for a in apps.list_apps(workspace)] == ["own_system", "their_system"]
    with pytest.raises(AccessDenied):
        apps.add(analyst, "x_system", department="发展改革委")
    with pytest.raises(AccessDenied):
        apps.list_apps(analyst)


def test_bad_input(workspace) -> None:
    with pytest.raises(ValidationFailed):
        apps.add(workspace, "a_system", department="市场监管局", alg="hmac-md5")
    with pytest.raises(ValidationFailed):
        apps.add(workspace, "a_system", department=" ")
    apps.add(workspace, "a_system", department="市场监管局")
    with pytest.raises(AlreadyExists):
        apps.add(workspace, "a_system", department="市场监管局")


def test_rotate_and_disable_are_audited(workspace) -> None:
    first = apps.add(workspace, "gs_system", department="市场监管局")
    second = apps.rotate(workspace, "gs_system")
    assert second.key_id != first.key_id and second.secret != first.secret
    assert apps.credential(workspace, first.key_id) is None
    apps.set_active(workspace, "gs_system", False)
    cred = apps.credential(workspace, second.key_id)
    assert cred is not None and not cred.active
    with workspace.store.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.target == "app:gs_system"))]
    assert actions == ["app.add", "app.rotate", "app.disable"]
