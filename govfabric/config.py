"""Settings: environment variables (``GOVFABRIC_*``) over the workspace file over defaults.

The workspace home comes from ``--home``, else ``GOVFABRIC_HOME``, else ``./.govfabric``.
Its ``config.toml`` may set any field below; environment variables win.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from govfabric.errors import ConfigError

CONFIG_FILE = "config.toml"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    raw = home or os.environ.get("GOVFABRIC_HOME") or ".govfabric"
    return Path(raw).expanduser().resolve()


class Settings(BaseSettings):
    """Everything configurable about one workspace."""

    model_config = SettingsConfigDict(env_prefix="GOVFABRIC_", extra="forbid")

    home: Path
    user: str | None = None
    store_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in the home")
    key_file: Path | None = Field(default=None, description="workspace secret key; default: home/secret.key")
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    duckdb_max_temp_size: str = "10GB"
    query_timeout_s: float = Field(default=300.0, gt=0, description="planning and running one query")
    query_row_limit: int = 1_000_000
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
    lineage_url: str | None = None

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.home / 'store.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "secret.key"

    @property
    def extensions_dir(self) -> Path:
        return self.home / "duckdb_extensions"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


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
    env_values = {
        name: os.environ[f"GOVFABRIC_{name.upper()}"]
        for name in Settings.model_fields
        if name != "home" and f"GOVFABRIC_{name.upper()}" in os.environ
    }
    values = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    values["home"] = root
    try:
        return Settings.model_validate(values)
    except Exception as exc:  # pydantic.ValidationError, with field names
        raise ConfigError(f"invalid settings in {cfg} or GOVFABRIC_* variables: {exc}") from exc
