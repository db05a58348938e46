"""Schemathesis against the app's own OpenAPI: no 5xx, every response conforms to its schema,
anonymous and as a signed app."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

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


def test_operation_ids_are_unique(api_schema: Any) -> None:
    """GET and HEAD of a download are two operations with their own ids (FastAPI warned of a duplicate)."""
    ids = [op.get("operationId") for item in api_schema.raw_schema["paths"].values() for op in item.values()
           if isinstance(op, dict) and "operationId" in op]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    download = api_schema.raw_schema["paths"]["/api/v1/datasets/{name}/download"]
    assert {"get", "head"} <= set(download) and download["head"]["operationId"] == "download_dataset_head"


class SigningProxy:
    """An ASGI front that signs every request as one app (RFC 9421, like the client) before the real
    app and its middleware verify it: schemathesis then fuzzes the authenticated surface."""

    def __init__(self, app: Any, issued: apps.Issued) -> None:
        self.app, self.issued = app, issued

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import httpx

        from govfabric.auth import httpsig

        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        url = f"http://{headers.get('host', 'testserver')}{path}" + (f"?{query}" if query else "")
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        httpsig.sign(request, key_id=self.issued.key_id, secret=self.issued.secret.encode(), alg=self.issued.alg,
                     body=body or None)
        scope = {**scope, "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                      for k, v in request.headers.multi_items()]}
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def test_api_conforms_as_a_signed_app(demo_home: Any) -> None:
    """The same fuzzing, every request signed by an app that holds a grant (row filter, mask) and may
    call a published service: no 5xx, every response conforms, however the data answers."""
    from govfabric.fabric import connect
    from govfabric.server.app import create_app

    admin = connect(demo_home)
    try:
        steward = admin.as_user("steward_mr")
        issued = apps.add(admin, "gs_system", department="北京市市场监督管理局")
        steward.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                                     renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district",
                                              "fddbr_sfzh": "legal_rep_id"},
                                     only=["tyshxydm", "qymc", "qx", "fddbr_sfzh", "xzqh"])
        steward.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
        steward.access.grant("gs_system", "market.enterprise", row_filter="xzqh = '110105'")
        steward.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"], "district": ["eq", "in"]},
                                 require_one_of=["uscc", "district"], columns=["name", "legal_rep_id"],
                                 order=["uscc"], page_size=5, max_page_size=20)
        steward.datasets.publish("market.enterprise", ["csv"])
        schema = schemathesis.openapi.from_asgi("/openapi.json", SigningProxy(create_app(admin), issued))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            def check(case: Any) -> None:
                # semantic refusals (a push URL that is no URL, an unknown table) are 4xx by design
                response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
                # a link's own HMAC may refuse; Delta Sharing takes recipients' bearer tokens, not signatures
                if not case.path.endswith("/download") and not case.path.startswith("/delta-sharing/"):
                    assert response.status_code != 401, response.text

            check()
        from fastapi.testclient import TestClient

        proxy = TestClient(SigningProxy(create_app(admin), issued))
        assert proxy.get("/api/v1/whoami").json()["name"] == "gs_system"
        page = proxy.get("/api/v1/query/ent_lookup", params={"district": "朝阳区"})
        assert page.status_code == 200 and page.json()["rows"], page.text
    finally:
        admin.close()
