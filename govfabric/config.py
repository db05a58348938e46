"""Settings: environment variables (``GOVFABRIC_*``) over the workspace file over defaults.

The workspace home comes from ``--home``, else ``GOVFABRIC_HOME``, else ``./.govfabric``.
Its ``config.toml`` may set any field below; environment variables win.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from govfabric.errors import ConfigError

CONFIG_FILE = "config.toml"
#: who acts when neither ``--as`` / ``GOVFABRIC_USER`` nor the workspace's ``config.toml`` names a principal
DEFAULT_USER = "admin"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    raw = home or os.environ.get("GOVFABRIC_HOME") or ".govfabric"
    return Path(raw).expanduser().resolve()


class Settings(BaseModel):
    """Everything configurable about one workspace. A plain pydantic model: :func:`load_settings` reads
    the environment itself (pydantic-settings cost every command ~0.05 s CPU to import)."""

    model_config = ConfigDict(extra="forbid")

    home: Path
    user: str | None = None
    store_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in the home")
    store_password: str | None = Field(
        default=None, description="the store URL's password: env:VAR or fernet:… (sealed with the workspace key)")
    key_file: Path | None = Field(default=None, description="workspace secret key; default: home/secret.key")
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    duckdb_max_temp_size: str = "10GB"
    query_timeout_s: float = Field(default=300.0, gt=0, description="planning and running one query")
    query_row_limit: int = 1_000_000
    export_row_limit: int = Field(default=100_000_000, gt=0, description="rows of one dataset file or download "
                                  "(an export); interactive queries keep query_row_limit")
    query_max_nodes: int = Field(default=20_000, gt=0, description="syntax nodes of one query")
    query_max_select_items: int = Field(default=1_000, gt=0, description="items of one SELECT list")
    query_max_string_chars: int = Field(default=65_536, gt=0, description="longest string a query may build")
    query_max_string_growth: int = Field(default=64, gt=0, description="× the longest stored value")
    trino_query_max_memory: str = "1GB"
    quality_timeout_s: float = 1800.0
    default_engine: str = "duckdb"
    trino_url: str | None = None
    trino_user: str = "govfabric"
    chain_url: str | None = None
    chain_record_grants: bool = True
    pii_scan_on_harvest: bool = True
    pii_scan_max_assets: int = 500
    data_service_max_attempts: int = Field(default=8, gt=0, description="push attempts before dead-letter")
    data_service_backoff_s: float = Field(default=30.0, gt=0, description="first retry delay; doubles, with jitter")
    data_service_allow_private_targets: bool = Field(default=False, description="push to private/link-local hosts")
    data_service_allow_loopback: bool = Field(default=False, description="push to 127.0.0.1/::1 (tests)")
    lineage_url: str | None = None
    rate_limit: str = Field(default="100/second", description="API calls per app (or person) and service; "
                            "e.g. 100/second, 6000/minute (an app's own limit wins)")
    service_rate_limit: str | None = Field(default=None, description="API calls per service from all callers")
    daily_quota: str | None = Field(default=None, description="API calls per caller per day, e.g. 100000/day")
    redis_url: str | None = Field(default=None, description="redis:// for rate limits and signature nonces "
                                  "shared by workers; default: in memory, per process")
    signature_max_age_s: int = Field(default=300, gt=0, le=3600, description="oldest accepted request signature")
    signature_clock_skew_s: int = Field(default=30, ge=0, le=600, description="callers' clocks may be this far ahead")
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="largest accepted request body")
    sync_max_attachment_bytes: int = Field(default=5 * 1024 * 1024, gt=0, description="largest topic attachment")
    smtp_url: str | None = Field(default=None, description="notification e-mail: smtp://[user@]host[:port], "
                                 "smtps://… (TLS) or smtp+starttls://…")
    smtp_password: str | None = Field(default=None, description="the SMTP password: env:VAR or fernet:… (sealed)")
    smtp_from: str = Field(default="govfabric@localhost", description="the From: of notification e-mail")
    route_health_interval_s: float = Field(default=5.0, gt=0, description="routed providers' /readyz probe interval")
    route_timeout_s: float = Field(default=10.0, gt=0, description="one forwarded call to a routed provider")
    export_root: Path | None = Field(default=None, description="exports are written only here; default: "
                                     "home/exports (a relative path is taken from the home)")

    @property
    def resolved_store_url(self) -> str:
        """The store URL, with its sealed or env-referenced password put back (only to connect)."""
        url = self.store_url or f"sqlite:///{self.home / 'store.db'}"
        if not self.store_password:
            return url
        from sqlalchemy.engine import make_url

        from govfabric.auth.secrets import SecretBox, open_secret

        password = open_secret(self.store_password, SecretBox(self.resolved_key_file))
        return make_url(url).set(password=password).render_as_string(hide_password=False)

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "secret.key"

    @property
    def resolved_export_root(self) -> Path:
        root = (self.export_root or Path("exports")).expanduser()
        return root if root.is_absolute() else self.home / root

    @property
    def extensions_dir(self) -> Path:
        return self.home / "duckdb_extensions"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


def write_config(path: Path, values: dict[str, str]) -> None:
    """Write ``config.toml`` readable by its owner only (it may name the store and its sealed password);
    an existing file gets mode 0600 too."""
    text = "".join(f"{k} = {_toml_str(v)}\n" for k, v in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def split_store_url(url: str) -> tuple[str, str | None]:
    """A store URL without its password (user part or ``?password=``), and that password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        raise ConfigError("the store URL cannot be parsed; use postgresql://user@host:port/database "
                          "(percent-encode special characters) or sqlite:///path") from None
    passwords = [str(v) for k, v in u.query.items() if k.lower() in ("password", "passwd", "pass")]
    password = u.password or (passwords[0] if passwords else None)
    query = {k: v for k, v in u.query.items() if k.lower() not in ("password", "passwd", "pass")}
    clean = u._replace(password=None).set(query=query).render_as_string(hide_password=False)
    return clean, (str(password) if password else None)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _environment() -> dict[str, str]:
    """Fields set by ``GOVFABRIC_<FIELD>`` variables, the name in any case (as pydantic-settings read them)."""
    env = {k.upper(): v for k, v in os.environ.items() if k[:10].upper() == "GOVFABRIC_"}
    env.update((k, v) for k, v in os.environ.items() if k.startswith("GOVFABRIC_"))  # exact case wins
    return {name: env[f"GOVFABRIC_{name.upper()}"] for name in Settings.model_fields
            if name != "home" and f"GOVFABRIC_{name.upper()}" in env}


def load_settings(home: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the workspace file, then the environment, then explicit overrides."""
    root = resolve_home(home)
    file_values: dict[str, Any] = {}
    cfg = root / CONFIG_FILE
    if cfg.exists():
        try:
            file_values = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg} is not valid TOML ({exc}); fix or remove it") from exc
    env_values = _environment()
    values = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    values["home"] = root
    try:
        return Settings.model_validate(values)
    except Exception as exc:  # pydantic.ValidationError, with field names
        raise ConfigError(f"invalid settings in {cfg} or GOVFABRIC_* variables: {exc}") from exc
