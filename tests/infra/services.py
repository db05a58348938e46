"""Where the real test services are, or why a test cannot run.

`scripts/test.sh` (and so CI) starts PostgreSQL, MariaDB, Trino and an Ethereum JSON-RPC node
and exports their URLs. A test that needs one calls the matching `require_*_url()`:
when the variable is missing it skips locally (saying how to start the services) but
fails under CI, where a skipped integration test would hide a broken setup.
"""

from __future__ import annotations

import os

import pytest

PG_URL_VAR = "GOVFABRIC_TEST_PG_URL"
TRINO_URL_VAR = "GOVFABRIC_TEST_TRINO_URL"
RPC_URL_VAR = "GOVFABRIC_TEST_RPC_URL"
MYSQL_URL_VAR = "GOVFABRIC_TEST_MYSQL_URL"
REDIS_URL_VAR = "GOVFABRIC_TEST_REDIS_URL"

_START_HINT = (
    'start them with `bash scripts/services.sh start && eval "$(bash scripts/services.sh env)"`, '
    "or run everything with `bash scripts/test.sh`"
)


def in_ci() -> bool:
    """True when the `CI` variable is set to anything but an explicit false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_service_url(var: str, service: str) -> str:
    """Return the URL in `var`; skip the test locally, fail it under CI, when unset."""
    url = os.environ.get(var, "").strip()
    if url:
        return url
    if in_ci():
        pytest.fail(
            f"{var} is not set but CI is: the {service} service was not started. "
            f"CI must run the suite through `bash scripts/test.sh` (.ci/run does).",
            pytrace=False,
        )
    pytest.skip(f"{var} not set, so no {service} to test against; {_START_HINT}")


def require_pg_url() -> str:
    """SQLAlchemy/psycopg URL of the throwaway PostgreSQL cluster (superuser, trust auth)."""
    return require_service_url(PG_URL_VAR, "PostgreSQL")


def require_trino_url() -> str:
    """Base URL of the single-node Trino server (any user name, no authentication)."""
    return require_service_url(TRINO_URL_VAR, "Trino")


def require_rpc_url() -> str:
    """HTTP URL of the Ethereum JSON-RPC node (Anvil, chain id 31337, prague EVM)."""
    return require_service_url(RPC_URL_VAR, "Ethereum JSON-RPC")


def require_mysql_url() -> str:
    """mysql://root:PASSWORD@127.0.0.1:53306/mysql of the throwaway MariaDB (password auth on;
    the password is made at each start, so never copy it into a test)."""
    return require_service_url(MYSQL_URL_VAR, "MySQL/MariaDB")


def require_redis_url() -> str:
    """redis://127.0.0.1:56379/0 of the throwaway Redis (no password; tests use their own key prefixes)."""
    return require_service_url(REDIS_URL_VAR, "Redis")
