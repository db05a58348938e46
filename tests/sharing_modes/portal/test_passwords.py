"""`govfabric principal set-password` and the password/session rules of govfabric.auth.passwords:
argon2 hashes only, people only, the person or an admin, expiry and forged session cookies refused."""

from __future__ import annotations

import io
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from govfabric.auth import passwords
from govfabric.auth.tokens import TokenRefused
from govfabric.cli.main import run
from govfabric.errors import AccessDenied, AuthenticationRequired, ValidationFailed


def test_set_password_cli_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "ws")
    assert run(["--home", home, "init"]) == 0
    assert run(["--home", home, "principal", "add", "ana", "--role", "analyst"]) == 0
    assert run(["--home", home, "principal", "add", "sys1", "--role", "business_system",
                "--kind", "business_system"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough secret\n"))
    assert run(["--home", home, "principal", "set-password", "ana", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough secret\n"))
    assert run(["--home", home, "principal", "set-password", "sys1", "--password-stdin"]) != 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert run(["--home", home, "principal", "set-password", "ana", "--password-stdin"]) != 0
    err = capsys.readouterr().err
    assert "only people sign in" in err and "10 to 1024 characters" in err and "Traceback" not in err
    from govfabric.fabric import connect

    with connect(home) as f:
        assert passwords.login(f, "ana", "a long enough secret").startswith("gfs_")
        with f.store.session() as s:
            stored = s.execute(text("SELECT hash FROM auth_passwords")).scalars().all()
        assert len(stored) == 1 and stored[0].startswith("$argon2id$") and "secret" not in stored[0]


def test_who_may_set_and_sessions_expire(workspace) -> None:
    analyst = workspace.as_user("analyst1")
    with pytest.raises(AccessDenied):
        passwords.set_password(workspace.as_user("analyst1"), "steward1", "x" * 12)
    passwords.set_password(analyst, "analyst1", "my own password")  # one's own: allowed
    with pytest.raises(ValidationFailed):
        passwords.set_password(workspace, "analyst1", "short")
    with pytest.raises(AuthenticationRequired):
        passwords.login(workspace, "analyst1", "not my password")
    with pytest.raises(AuthenticationRequired):
        passwords.login(workspace, "nobody", "my own password")
    token = passwords.login(workspace, "analyst1", "my own password")
    assert passwords.authenticate(workspace, token) == "analyst1"
    for forged in (token[:-2] + "xx", "gfs_" + "A" * 43, "gft_" + token[4:], token + "x" * 200):
        with pytest.raises(TokenRefused):
            passwords.authenticate(workspace, forged)
    old = passwords.login(workspace, "analyst1", "my own password", ttl=timedelta(seconds=-1))
    with pytest.raises(TokenRefused, match="expired"):
        passwords.authenticate(workspace, old)
    workspace.set_principal_active("analyst1", False)
    with pytest.raises(TokenRefused, match="deactivated"):
        passwords.authenticate(workspace, token)
    with pytest.raises(AuthenticationRequired):  # a disabled person cannot sign in again
        passwords.login(workspace, "analyst1", "my own password")
