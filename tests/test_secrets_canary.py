"""The canary: a password with `@ ! space = ' " % : / +` goes through every command that touches a
source or the store, in every URI form; then no file of the workspace, no store table, no command
output and no error holds it in any encoding (issue 10, "secrets never in text")."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from govfabric.cli.main import run

pytestmark = pytest.mark.postgres

#: every text form of the canary but base64 contains its alphanumeric head
HEAD = "GfCanary7"
CANARY = HEAD + "@ !='\"%:/Qz+"
ENC = quote(CANARY, safe="")


def leaks(text: str) -> list[str]:
    """The encodings of the canary found in ``text`` (the head covers plain, percent-, +-, JSON-,
    libpq- and SQL-quoted forms; base64 is checked on its own)."""
    low = text.lower()
    found = [f for f in (HEAD.lower(), ENC.lower()) if f in low]
    raw = CANARY.encode()
    for enc in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
        if enc(raw).decode().rstrip("=")[:16] in text:
            found.append(enc.__name__)
    return found


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], home: Path) -> None:
        self.capsys, self.home, self.outputs = capsys, home, []

    def __call__(self, *args: str, ok: bool = True) -> str:
        code = run(["--home", str(self.home), *args])
        out = self.capsys.readouterr()
        self.outputs.append((args, out.out + out.err))
        assert (code == 0) == ok, (args, code, out.out, out.err)
        assert "Traceback" not in out.err, out.err
        return out.out + out.err


def grep_folder(folder: Path) -> list[str]:
    hits = []
    for f in folder.rglob("*"):
        if f.is_file() and leaks(f.read_bytes().decode("latin-1")):
            hits.append(str(f))
    return hits


@pytest.fixture
def canary_role(pg_url: str, make_pg_database):
    """A role whose password is the canary, and a database it reads (and owns: it can be a store)."""
    import psycopg
    from psycopg import sql

    role = f"gf_cr_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(CANARY)))
    db = make_pg_database()
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("CREATE TABLE people (id int, name text)")
        c.execute("INSERT INTO people VALUES (1, 'Ada'), (2, 'Bo')")
        c.execute(sql.SQL("GRANT SELECT ON people TO {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(urlsplit(db).path.strip("/")), sql.Identifier(role)))
    yield role, db
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(urlsplit(db).path.strip("/"))))
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_canary_source_password_never_in_text(capsys, tmp_path, monkeypatch, canary_role) -> None:
    role, db = canary_role
    p = urlsplit(db)
    hostport, dbname = f"{p.hostname}:{p.port}", p.path.strip("/")
    monkeypatch.setenv("GF_SRC_PW", CANARY)
    home = tmp_path / "ws"
    gf = Cli(capsys, home)
    gf("init")
    gf("source", "add", "pg_ui", f"postgresql://{role}:{ENC}@{hostport}/{dbname}")
    gf("source", "add", "pg_q", f"postgresql://{role}@{hostport}/{dbname}?sslmode=disable&password={ENC}")
    gf("source", "add", "pg_env", f"postgresql://{role}@{hostport}/{dbname}?connect_timeout=10",
       "--password-env", "GF_SRC_PW")
    gf("source", "add", "pg_bad", f"postgresql://gf_pw_user:{ENC}@{hostport}/{dbname}")  # a wrong password
    gf("source", "add", "pg_dead", f"postgresql://{role}:{ENC}@127.0.0.1:1/{dbname}")  # unreachable
    listed = json.loads(gf("source", "list", "--json"))
    assert {s["password"] for s in listed} == {"sealed", "env GF_SRC_PW"}
    for name in ("pg_ui", "pg_q", "pg_env"):
        gf("source", "test", name, "--json")
    assert "password" in gf("source", "test", "pg_bad", ok=False)
    assert "unreachable" in gf("source", "test", "pg_dead", ok=False)
    for name in ("pg_ui", "pg_q", "pg_env"):
        gf("catalog", "harvest", name)
    gf("catalog", "harvest", "pg_bad", ok=False)
    gf("vt", "create", "c.people", "--from", "pg_ui.public.people")
    gf("vt", "create", "c.people_q", "--from", "pg_q.public.people")
    gf("vt", "create", "c.people_env", "--from", "pg_env.public.people")
    for vt in ("c.people", "c.people_q", "c.people_env"):
        gf("access", "grant", vt, "--to", "admin", "--purpose", "canary")
    assert gf("sql", "SELECT name FROM c.people ORDER BY id", "--format", "json").count("name") == 2
    gf("sql", "SELECT count(*) FROM c.people_q JOIN c.people_env USING (id)")
    trino = os.environ.get("GOVFABRIC_TEST_TRINO_URL")
    if trino:  # the real Trino: catalogs created with the canary; its errors redacted
        monkeypatch.setenv("GOVFABRIC_TRINO_URL", trino)
        gf("sql", "--engine", "trino", "SELECT count(*) FROM c.people_q JOIN c.people_env USING (id)")
    # the same source, now failing: a wrong password, then an unreachable port
    gf("source", "add", "pg_ui", f"postgresql://gf_pw_user:{ENC}@{hostport}/{dbname}?application_name=x",
       "--replace")
    assert "password" in gf("sql", "SELECT name FROM c.people", ok=False)
    if trino:
        try:
            assert "credentials" in gf("sql", "--engine", "trino", "SELECT name FROM c.people", ok=False)
        finally:
            from govfabric.fabric import connect

            with connect(home) as fabric:
                fabric.queries.engine("trino").drop_catalogs(fabric.catalog.sources())
    gf("source", "add", "pg_ui", f"postgresql://{role}:{ENC}@127.0.0.1:1/{dbname}?password={ENC}&application_name=y",
       "--replace")
    assert "unreachable" in gf("sql", "SELECT name FROM c.people", ok=False)
    gf("engine", "status", "--json")
    gf("audit", "list", "--json", "--limit", "1000")
    (home / "exports").mkdir(exist_ok=True)
    gf("lineage", "export", "--format", "openlineage", "-o", str(home / "exports" / "lineage.json"))
    gf("status", "--json")

    assert not [(a, leaks(o)) for a, o in gf.outputs if leaks(o)]
    assert not grep_folder(home)


def test_canary_store_password_never_in_text(capsys, tmp_path, monkeypatch, canary_role, pg_url) -> None:
    role, db = canary_role
    p = urlsplit(db)
    store = f"postgresql://{role}:{ENC}@{p.hostname}:{p.port}{p.path}"
    # a wrong store password: a clear error, redacted, and `init` can be run again
    bad = Cli(capsys, tmp_path / "bad")
    err = bad("init", "--store-url", f"postgresql://gf_pw_user:{ENC}@{p.hostname}:{p.port}{p.path}", ok=False)
    assert "password authentication failed" in err and not (tmp_path / "bad" / "config.toml").exists()

    home = tmp_path / "ws"
    gf = Cli(capsys, home)
    gf("init", "--store-url", store)
    cfg = home / "config.toml"
    assert cfg.stat().st_mode & 0o777 == 0o600 and 'store_password = "fernet:' in cfg.read_text()
    gf("source", "add", "pg_ui", f"postgresql://{role}@{p.hostname}:{p.port}{p.path}?password={ENC}")
    gf("catalog", "harvest", "pg_ui")
    gf("status", "--json")
    gf("audit", "list", "--json")
    assert not [(a, leaks(o)) for a, o in gf.outputs + bad.outputs if leaks(o)]
    assert not grep_folder(home) and not grep_folder(tmp_path / "bad")

    # an env-referenced store password
    monkeypatch.setenv("GF_STORE_PW", CANARY)
    env_home = tmp_path / "ws_env"
    gfe = Cli(capsys, env_home)
    gfe("init", "--store-url", f"postgresql://{role}@{p.hostname}:{p.port}{p.path}",
        "--store-password-env", "GF_STORE_PW")
    assert 'store_password = "env:GF_STORE_PW"' in (env_home / "config.toml").read_text()
    gfe("status", "--json")
    assert not grep_folder(env_home)

    # the store's tables, dumped as text
    import psycopg

    with psycopg.connect(db) as c:
        tables = [r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = "\n".join(str(row) for t in tables for row in c.execute(f'SELECT * FROM "{t}"'))
    assert "catalog_sources" in tables and dump and not leaks(dump)


def test_config_toml_of_an_existing_workspace_becomes_private(tmp_path) -> None:
    from govfabric.fabric import init_workspace

    home = tmp_path / "ws"
    init_workspace(home).close()
    cfg = home / "config.toml"
    assert cfg.stat().st_mode & 0o777 == 0o600
    os.chmod(cfg, 0o644)
    init_workspace(home).close()
    assert cfg.stat().st_mode & 0o777 == 0o600
