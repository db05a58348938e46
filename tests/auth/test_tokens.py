"""Personal access tokens: shown once, stored as a keyed digest, expire, revocable, audited."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import text

from govfabric.auth import tokens
from govfabric.errors import AccessDenied, ValidationFailed


def test_a_token_acts_as_its_creator_until_revoked(analyst) -> None:
    token, info = tokens.create(analyst, name="laptop")
    assert token.startswith("gft_") and tokens.authenticate(analyst, token) == "analyst1"
    with analyst.store.session() as s:
        dump = " ".join(str(v) for r in s.execute(text("SELECT * FROM auth_tokens")) for v in r)
    assert token not in dump and token[4:] not in dump
    tokens.revoke(analyst, info.id)
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.authenticate(analyst, token)
    assert refused.value.code == "token_revoked"


def test_expiry_unknown_and_disabled(workspace, analyst) -> None:
    token, _ = tokens.create(analyst, expires=datetime.timedelta(microseconds=1))
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.authenticate(analyst, token)
    assert refused.value.code == "token_expired"
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.authenticate(analyst, "gft_" + "x" * 43)
    assert refused.value.code == "token_invalid"
    live, _ = tokens.create(analyst)
    workspace.set_principal_active("analyst1", False)
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.authenticate(workspace, live)
    assert refused.value.code == "principal_disabled"


def test_listing_and_durations(workspace, analyst, steward) -> None:
    tokens.create(analyst)
    tokens.create(steward)
    assert [t.principal for t in tokens.list_tokens(analyst)] == ["analyst1"]
    assert len(tokens.list_tokens(workspace, everyone=True)) == 2
    with pytest.raises(AccessDenied):
        tokens.list_tokens(analyst, everyone=True)
    assert tokens.parse_duration("30d") == datetime.timedelta(days=30)
    for bad in ("0d", "30", "1y", "-1d"):
        with pytest.raises(ValidationFailed):
            tokens.parse_duration(bad)
