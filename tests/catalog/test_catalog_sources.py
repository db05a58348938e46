"""Source registration: URIs, secrets never in plain text, connection errors that say what to fix."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govfabric.catalog.sources import parse_uri
from govfabric.errors import AccessDenied, AlreadyExists, SourceError, ValidationFailed


def test_parse_uri_strips_password_and_normalises() -> None:
    p = parse_uri("postgres://alice:s3cr%40t@db.example:5433/market")
    assert p.kind == "postgresql" and p.password == "s3cr@t"
    assert p.uri == "postgresql://alice@db.example:5433/market"
    assert parse_uri("mysql://bob@h/db").uri == "mysql://bob@h:3306/db"
    with pytest.raises(ValidationFailed, match="database name"):
        parse_uri("postgresql://u@h:5432/")
    with pytest.raises(ValidationFailed, match="unsupported"):
        parse_uri("ftp://x/y")


def test_password_is_sealed_not_stored(steward, tmp_path) -> None:
    steward.catalog.add_source("pg1", "postgresql://alice:TopSecret-42@127.0.0.1:1/db")
    with steward.store.engine.connect() as conn:
        dump = " ".join(str(r) for t in ("catalog_sources", "auth_audit_events")
                        for r in conn.execute(text(f"SELECT * FROM {t}")))
    assert "TopSecret-42" not in dump
    src = steward.catalog.source("pg1")
    assert src.secret.startswith("fernet:")
    assert steward.catalog.connection_uri(src)[1] == "TopSecret-42"
    if steward.store.dialect == "sqlite":
        from pathlib import Path

        steward.store.dispose()  # checkpoint the WAL into the file
        db = Path(steward.store.engine.url.database)
        for f in (db, db.with_name(db.name + "-wal")):
            assert not f.exists() or b"TopSecret-42" not in f.read_bytes()


def test_env_reference_is_resolved_only_when_connecting(steward, monkeypatch) -> None:
    steward.catalog.add_source("pg2", "postgresql://alice@127.0.0.1:1/db", password_env="PG2_PW")
    src = steward.catalog.source("pg2")
    assert src.secret == "env:PG2_PW"
    with pytest.raises(Exception, match="PG2_PW"):
        steward.catalog.connection_uri(src)
    monkeypatch.setenv("PG2_PW", "from-env")
    assert steward.catalog.connection_uri(src)[1] == "from-env"


def test_unreachable_host_is_a_clear_error_without_the_password(steward) -> None:
    steward.catalog.add_source("dead", "postgresql://alice:hunter2@127.0.0.1:1/db")
    with pytest.raises(SourceError, match="unreachable") as err:
        steward.catalog.test_source("dead")
    assert "hunter2" not in str(err.value)


@pytest.mark.postgres
def test_wrong_password_is_a_clear_error(steward, pg_url) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS gf_pw_user")
        c.execute("CREATE ROLE gf_pw_user LOGIN PASSWORD 'right-pw'")
    host = pg_url.split("@", 1)[1].split("/", 1)[0]
    # the test cluster authenticates gf_pw_user by password (scripts/services/postgres-start.sh)
    steward.catalog.add_source("pwtest", f"postgresql://gf_pw_user:wrong-pw@{host}/postgres")
    with pytest.raises(SourceError, match="password") as err:
        steward.catalog.test_source("pwtest")
    assert "wrong-pw" not in str(err.value)
    steward.catalog.add_source("pwtest", f"postgresql://gf_pw_user:right-pw@{host}/postgres", replace=True)
    assert steward.catalog.test_source("pwtest").ok


def test_missing_file_and_duplicates(steward, tmp_path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        steward.catalog.add_source("gone", f"sqlite:///{tmp_path}/nope.db")
    (tmp_path / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    steward.catalog.add_source("files1", str(tmp_path))
    (tmp_path / "other").mkdir()
    with pytest.raises(AlreadyExists):
        steward.catalog.add_source("files1", str(tmp_path / "other"))
    with pytest.raises(AlreadyExists, match="already registered as source 'files1'"):
        steward.catalog.add_source("files2", str(tmp_path))
    with pytest.raises(ValidationFailed, match="source name"):
        steward.catalog.add_source("Bad Name", str(tmp_path))


def test_analyst_cannot_register(analyst, tmp_path) -> None:
    with pytest.raises(AccessDenied, match="steward"):
        analyst.catalog.add_source("x", str(tmp_path))


CANARY = "c@n ary!='\"%:/x+;&"


@pytest.mark.parametrize("query", [
    "password={}", "pass={}", "passwd={}", "PassWord={}", "pass%77ord={}", "sslmode=disable&password={}&x=1",
])
def test_password_in_query_parameter_is_cut_and_sealed(steward, query) -> None:
    from urllib.parse import quote

    p = parse_uri(f"postgresql://alice@db.example/market?{query.format(quote(CANARY, safe=''))}")
    assert p.password == CANARY
    assert "pass" not in p.uri.lower() and "c%40n" not in p.uri.lower()
    steward.catalog.add_source("q1", f"postgresql://alice@db.example/market?{query.format(quote(CANARY, safe=''))}")
    src = steward.catalog.source("q1")
    assert src.secret.startswith("fernet:") and steward.catalog.connection_uri(src)[1] == CANARY


def test_two_different_passwords_and_conninfo_text_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="two different passwords"):
        parse_uri("postgresql://alice:one@h/db?password=two")
    assert parse_uri("postgresql://alice:same@h/db?password=same").password == "same"
    with pytest.raises(ValidationFailed, match="key=value") as err:
        parse_uri("host=h dbname=db password=hunter2")
    assert "hunter2" not in str(err.value)


def test_redact_removes_every_encoded_form() -> None:
    import base64
    import json
    from urllib.parse import quote, quote_plus

    from govfabric.auth.secrets import redact

    forms = [CANARY, quote(CANARY, safe=""), quote(CANARY, safe="").lower(), quote(CANARY), quote_plus(CANARY),
             quote(CANARY, safe="!'()*"), "'" + CANARY.replace("\\", "\\\\").replace("'", "\\'") + "'",
             json.dumps(CANARY), base64.b64encode(CANARY.encode()).decode()]
    for form in forms:
        text = redact(f'IO Error: Unable to connect to Postgres at "postgresql://u:{form}@h:5432/db": refused', CANARY)
        assert form.strip("'\"=") not in text and "refused" in text, (form, text)
    # without knowing the secret, a URL's user part and a key=value password still go
    assert "hunter2" not in redact("at postgresql://u:hunter2@h/db and host=h password='hunter2 x' port=1")


def test_duckdb_connect_error_hides_a_percent_encoded_password(steward) -> None:
    """Old code: DuckDB's error echoed the ATTACH DSN, where the password is percent-encoded."""
    from govfabric.catalog.sources import friendly_connect_error

    exc = RuntimeError('IO Error: Unable to connect to Postgres at "postgresql://u:c%40n%20ary%21%3D%27%22%25%3A%2Fx'
                       '%2B%3B%26@127.0.0.1:1/db": connection refused')
    msg = str(friendly_connect_error("postgresql", "postgresql://u@127.0.0.1:1/db", exc, CANARY))
    assert "c%40n" not in msg and "unreachable" in msg


def test_a_legacy_query_password_is_kept_out_of_listings_and_trino(steward) -> None:
    """Sources registered before passwords were cut from query strings still hold one in their URI."""
    from govfabric.auth.secrets import redact
    from govfabric.catalog.models import Source
    from govfabric.virtualization.engines.trino import TrinoEngine

    legacy = Source(name="old", kind="postgresql", uri="postgresql://u@h:5432/db?sslmode=disable&password=hunter2")
    props = TrinoEngine._base_properties(legacy)
    assert "hunter2" not in str(props) and props["connection-url"].endswith("/db?sslmode=disable")
    assert "hunter2" not in redact(legacy.uri) and "sslmode=disable" in redact(legacy.uri)
