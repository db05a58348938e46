"""Source registration: parse a URI, keep the password out of the store, test it.

A source URI never keeps its password: it is cut out and either sealed with the
workspace key or replaced by a reference to an environment variable. Connection
errors are rewritten so that they say what to fix and never echo the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from govfabric.auth.secrets import SecretBox, open_secret, redact
from govfabric.errors import SourceError, ValidationFailed

SQL_KINDS = ("postgresql", "mysql", "sqlite", "duckdb")
FILE_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".xml", ".json", ".jsonl", ".ndjson")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
#: query parameters that carry a password (libpq's ``password``, drivers' aliases, key passphrases)
PASSWORD_PARAMS = frozenset({"password", "pass", "passwd", "pwd", "sslpassword", "ssl_password"})
#: a libpq ``key=value`` connection string given where a URI belongs
_CONNINFO_RE = re.compile(r"^\s*(host|hostaddr|dbname|user|port|password|service)\s*=", re.I)


@dataclass(frozen=True)
class ParsedURI:
    kind: str
    uri: str  # without password
    password: str | None
    path: Path | None = None  # sqlite / duckdb / files


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValidationFailed(
            f"source name {name!r}: use lowercase letters, digits and _, starting with a letter (max 63)"
        )
    return name


def parse_uri(raw: str) -> ParsedURI:
    """Classify a source URI and split off its password."""
    raw = raw.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        scheme = "postgresql"
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        scheme = "mysql"
    if scheme in ("postgresql", "mysql"):
        parts = urlsplit(raw)
        if not parts.hostname:
            raise ValidationFailed(f"{scheme} URI needs a host: {scheme}://user@host:port/database")
        if not parts.path.strip("/"):
            raise ValidationFailed(f"{scheme} URI needs a database name: {scheme}://user@host:port/database")
        password = unquote(parts.password) if parts.password is not None else None
        query, in_query = split_query(parts.query)
        if in_query is not None:
            if password is not None and password != in_query:
                raise ValidationFailed(f"the {scheme} URI has two different passwords (in the user part and "
                                       "in a query parameter); give one")
            password = in_query
        netloc = quote(unquote(parts.username or ""), safe="") + "@" if parts.username else ""
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        try:
            port = parts.port
        except ValueError:
            raise ValidationFailed(f"the {scheme} URI's port is not a number") from None
        netloc += f"{host}:{port or DEFAULT_PORTS[scheme]}"
        clean = urlunsplit((scheme, netloc, parts.path, query, ""))
        return ParsedURI(scheme, clean, password or None)
    if scheme in ("sqlite", "duckdb"):
        # SQLAlchemy's convention: scheme:///relative/path, scheme:////absolute/path
        rest = raw.split("://", 1)[1]
        if not rest.startswith("/") or len(rest) < 2:
            raise ValidationFailed(f"{scheme} URI must look like {scheme}:///relative.db or {scheme}:////abs.db")
        path = Path(rest[1:]).expanduser().resolve()
        return ParsedURI(scheme, f"{scheme}:///{path}", None, path)
    if not scheme and _CONNINFO_RE.match(raw):
        raise ValidationFailed("a key=value connection string is not accepted (it would be kept as text); "
                               "give a URI: postgresql://user@host:port/database with --password-env")
    if scheme == "file" or not scheme:
        p = Path(unquote(raw[7:]) if scheme == "file" else raw).expanduser().resolve()
        return ParsedURI("files", p.as_uri(), None, p)
    raise ValidationFailed(
        f"unsupported source URI scheme {scheme!r}; use postgresql://, mysql://, sqlite:///, duckdb:/// "
        "or a file/folder path"
    )


def split_query(query: str) -> tuple[str, str | None]:
    """The query string without any password parameter (matched however its name is encoded),
    and that password (percent-decoded, as libpq reads it)."""
    kept: list[str] = []
    password: str | None = None
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if unquote_plus(key).strip().lower() in PASSWORD_PARAMS:
            if unquote_plus(key).strip().lower() in ("password", "pass", "passwd", "pwd"):
                password = unquote(value)
            continue  # a key passphrase is dropped: keep it in the client's key file, not in the URI
        kept.append(pair)
    return "&".join(kept), password


@dataclass(frozen=True)
class ConnParams:
    """A database source's connection, field by field: for drivers and DuckDB secrets, so no value
    is ever joined into a connection string."""

    host: str
    port: int
    user: str
    database: str
    password: str | None
    options: dict[str, str]


def connection_params(uri: str, secret: str | None, box: SecretBox) -> ConnParams:
    parts = urlsplit(uri)
    options = {unquote_plus(k): unquote_plus(v) for k, _, v in
               (p.partition("=") for p in filter(None, parts.query.split("&")))}
    return ConnParams(parts.hostname or "localhost", parts.port or DEFAULT_PORTS.get(parts.scheme, 0),
                      unquote(parts.username or ""), unquote(parts.path.strip("/")),
                      open_secret(secret, box), options)


def dsn_with_secret(uri: str, secret: str | None, box: SecretBox) -> tuple[str, str | None]:
    """The URI to connect with (password put back) and the password, for redaction."""
    if not secret:
        return uri, None
    password = open_secret(secret, box) or ""
    parts = urlsplit(uri)
    user = parts.username or ""
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@" + parts.netloc.split("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), password


def seal_secret(password: str | None, password_env: str | None, box: SecretBox) -> str | None:
    if password_env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", password_env):
            raise ValidationFailed(f"--password-env {password_env!r} is not an environment variable name")
        return f"env:{password_env}"
    if password:
        return "fernet:" + box.seal(password)
    return None


def friendly_connect_error(kind: str, uri: str, exc: BaseException, password: str | None) -> SourceError:
    """Turn a driver error into one clear line that names the likely fix."""
    text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, password)
    text = text.replace('at "": ', "").replace('with parameters "": ', "")  # DuckDB's empty ATTACH path
    low = text.lower()
    if "password authentication failed" in low or "access denied" in low or "authentication" in low:
        hint = "wrong user name or password: update it with `govfabric source add --replace`"
    elif any(w in low for w in ("connection refused", "could not connect", "can't connect",
                                "timeout", "timed out", "name or service not known",
                                "could not translate host", "no route")):
        hint = "the host is unreachable: check host, port and that the server is running"
    elif "does not exist" in low or "unknown database" in low:
        hint = "the database does not exist on that server"
    else:
        hint = "check the URI and the server"
    return SourceError(f"cannot connect to {kind} source {redact(uri, password)}: {text} ({hint})")
