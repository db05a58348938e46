"""Schemathesis against the app's own OpenAPI: no 5xx, every response conforms to its schema,
anonymous and as a signed app."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from govfabric.auth import apps


@pytest.fixture
def api_schema(served: Any) -> Any:
    from govfabric.server.app import create_app

    return schemathesis.openapi.from_asgi("/openapi.json", create_app(served))


def test_api_conforms(api_schema: Any) -> None:
    """Every operation, 20 generated cases each (the pytest plugin of schemathesis 4 does not run on
    this pytest: the operations are driven with hypothesis directly)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def check(case: Any) -> None:
            case.call_and_validate()

        check()


def test_schema_documents_errors_and_whoami(api_schema: Any, served: Any) -> None:
    raw = api_schema.raw_schema
    whoami = raw["paths"]["/api/v1/whoami"]["get"]
    assert {"401", "429", "503"} <= set(whoami["responses"])
    assert apps.ALGORITHMS == ("hmac-sha256", "hmac-sm3")
