"""Schemathesis against the query routes' OpenAPI (bounded examples): no 5xx for any input, and
every response conforms to the documented schema."""

from __future__ import annotations

from typing import Any

import pytest
from test_query_api_service import ENTERPRISE, PARAMS

from govfabric.sharing_modes.query_api.router import router

schemathesis = pytest.importorskip("schemathesis")


def test_no_server_errors_for_any_input(demo, router_client) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.query_api.create("ent_lookup", "market.enterprise", params=PARAMS, require_one_of=["uscc", "district"],
                          columns=["name", "district"], order=["uscc"])
    demo.access.grant("analyst1", "market.enterprise")
    client = router_client(demo, router, "analyst1")
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[Any] = []
    statuses: set[int] = set()
    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            if "service" in (case.path_parameters or {}) and case.path_parameters["service"][:1].isalpha():
                case.path_parameters["service"] = "ent_lookup"  # reach the service too, not only 404s
            response = case.call()
            statuses.add(response.status_code)
            try:
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                         response_schema_conformance])
            except Exception as exc:  # collect, report all at the end
                failures.append((case.operation.label, str(exc)[:500]))

        run()
    assert not failures, failures[:5]
    assert {200, 422} <= statuses  # the fuzzer reached the service, not only its validation
