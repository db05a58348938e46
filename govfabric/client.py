"""The Python client of the service plane: signs every request (RFC 9421, like docs/api.md explains)
or sends a personal access token, and turns error responses into :class:`~govfabric.errors.GovfabricError`.

    from govfabric.client import Client
    with Client("https://fabric.example.gov.cn", app_id="app_…", secret="…") as c:
        page = c.query("ent_lookup", uscc="91350102…")
        page.rows, page.to_arrow(), page.to_polars()
        for page in c.query_pages("ent_lookup", district="350102"): ...
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from govfabric import errors
from govfabric.auth import httpsig

ARROW = "application/vnd.apache.arrow.stream"


class ApiError(errors.GovfabricError):
    """An error answered by the server: ``status``, ``code``, ``message``, ``hint``, ``request_id``."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.status, self.code, self.hint, self.request_id = status, code, hint, request_id


#: the client error class per HTTP status (all are ApiError and the matching GovfabricError)
_BY_STATUS: dict[int, type[ApiError]] = {}
for _status, _base in ((401, errors.AuthenticationRequired), (403, errors.AccessDenied), (404, errors.NotFound),
                       (409, errors.Conflict), (422, errors.ValidationFailed), (429, errors.RateLimited),
                       (502, errors.ChainError), (503, errors.Unavailable)):
    _BY_STATUS[_status] = type(f"Api{_base.__name__}", (ApiError, _base), {"__init__": ApiError.__init__})
# 503: the server is up but a source (SourceError, named in the message) or an engine is not
_BY_STATUS[503] = type("ApiUnavailable", (ApiError, errors.Unavailable, errors.SourceError),
                       {"__init__": ApiError.__init__})


class _Sign(httpx.Auth):
    requires_request_body = True

    def __init__(self, key_id: str, secret: bytes, alg: str) -> None:
        self.key_id, self.secret, self.alg = key_id, secret, alg

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        httpsig.sign(request, key_id=self.key_id, secret=self.secret, alg=self.alg, body=request.content or None)
        yield request


@dataclass
class QueryResult:
    """One page of a conditional query service's answer."""

    rows: list[dict[str, Any]]
    next_page_token: str | None = None
    _arrow: Any = field(default=None, repr=False)

    def to_arrow(self) -> Any:
        import pyarrow as pa

        return self._arrow if self._arrow is not None else pa.Table.from_pylist(self.rows)

    def to_polars(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow())


class Client:
    """Signed (``app_id`` + ``secret``) or token-authenticated calls to a govfabric server."""

    def __init__(self, url: str, app_id: str | None = None, secret: str | None = None, *,
                 alg: str = "hmac-sha256", token: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if token is not None:
            auth: httpx.Auth | None = None
            headers = {"Authorization": f"Bearer {token}"}
        elif app_id and secret:
            if alg not in httpsig.ALGORITHMS:
                raise errors.ValidationFailed(f"unknown alg {alg!r}; use one of {', '.join(httpsig.ALGORITHMS)}")
            auth, headers = _Sign(app_id, secret.encode(), alg), {}
        else:
            raise errors.ValidationFailed("give app_id and secret (a business system) or token= (a person)")
        self.http = httpx.Client(base_url=url.rstrip("/"), auth=auth, headers=headers, timeout=timeout,
                                 transport=transport)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = self.http.request(method, path, **kw)
        if response.status_code >= 400:
            raise _error(response)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).json()

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw).json()

    def whoami(self) -> dict[str, Any]:
        return self.get("/api/v1/whoami")

    def query(self, service: str, *, page_token: str | None = None, arrow: bool = False,
              **params: Any) -> QueryResult:
        """One page of ``GET /api/v1/query/{service}``; a list value sends the parameter repeatedly."""
        query = [(k, str(x)) for k, v in params.items() for x in (v if isinstance(v, (list, tuple)) else [v])]
        if page_token:
            query.append(("page_token", page_token))
        if not arrow:
            body = self.get(f"/api/v1/query/{service}", params=query)
            return QueryResult(list(body.get("rows", [])), body.get("next_page_token"))
        import pyarrow as pa

        response = self.request("GET", f"/api/v1/query/{service}", params=query, headers={"Accept": ARROW})
        table = pa.ipc.open_stream(response.content).read_all()
        return QueryResult(table.to_pylist(), response.headers.get("x-next-page-token"), table)

    def query_pages(self, service: str, **params: Any) -> Iterator[QueryResult]:
        """Every page, following ``next_page_token`` until the service says there is no more."""
        token: str | None = None
        while True:
            page = self.query(service, page_token=token, **params)
            yield page
            token = page.next_page_token
            if not token:
                return

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        code, message = str(body["code"]), str(body["message"])
        hint, rid = body.get("hint"), body.get("request_id")
    except (ValueError, KeyError, TypeError):
        code, message, hint = f"http_{response.status_code}", response.text[:200] or response.reason_phrase, None
        rid = response.headers.get("x-request-id")
    cls = _BY_STATUS.get(response.status_code, ApiError)
    err = cls(response.status_code, code, message, hint, rid)
    err.status = response.status_code
    return err
