"""The one place every API request passes: request id, authentication, rate limits, metrics and the
``api.call`` audit event. A pure ASGI middleware (no per-request task), so a router's endpoint is
identified, limited, counted and audited without doing anything itself.

Order per request: request id (a well-formed ``X-Request-ID`` is kept, else one is made; echoed on
every response, set in the context variable every audit event reads) → route match (the service
name) → authentication (a signature or a bearer token; bad credentials are a 401 with a reason
code, no credentials leave the request anonymous) → rate limit → the app → metrics and audit."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.routing import Match

from govfabric.auth import apps, httpsig, tokens
from govfabric.auth.audit import Entry, OwedEvent, append_many, owed_event
from govfabric.auth.request_context import request_id as request_id_var
from govfabric.auth.secrets import redact
from govfabric.errors import GovfabricError
from govfabric.server.errors import ErrorBody, where

if TYPE_CHECKING:
    from govfabric.server.app import ServerState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_RID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
#: paths neither audited nor rate limited (probes, metrics scrapes, the API description)
_QUIET = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")
ANONYMOUS = "anonymous"
#: the only paths open to anonymous callers: open-data metadata (CKAN action API, DCAT catalogue) and
#: the portal's public pages; routers serving them check ``request.state.public`` (the portal: its
#: signed-in pages need a session), rate limited per client address
PUBLIC_PATHS = ("/api/3/action/", "/api/action/", "/catalog.", "/portal")
#: hot routes whose sync endpoint checks a request's credentials (a signature or a bearer token) itself,
#: in the thread it runs in (:func:`govfabric.server.deps.signed_fabric`, called first thing by each):
#: one hop to a thread per request instead of two
IN_THREAD_AUTH = frozenset({("GET", "/api/v1/query/{service}"), ("GET", "/api/v1/routed/query/{service}"),
                            ("GET", "/api/v1/subscriptions/{sub_id}/changes")})
#: ``scope["state"]`` key of the pending check a route in :data:`IN_THREAD_AUTH` must run first
PENDING_AUTH = "pending_auth"
log = logging.getLogger("govfabric.server")


class Refused(Exception):
    """A request stopped before the app: status, code, message, optional headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def _request_id(headers: Headers) -> str:
    given = headers.get("x-request-id")
    return given if given and _RID.match(given) else uuid.uuid4().hex


def _route(scope: Scope) -> tuple[str, str]:
    """(route template, service name): the template, with ``{service}`` filled in when the route names one.
    Never the raw path: metric labels, rate-limit keys and audit targets must stay a bounded set."""
    app = scope.get("app")
    found = _match(getattr(getattr(app, "router", None), "routes", ()), scope)
    if found is None:
        return "unmatched", "unmatched"
    template, params = found
    service = params.get("service")
    return template, (f"{template.replace('{service}', str(service))}" if service else template)


def _match(routes: Any, scope: Scope) -> tuple[str, dict[str, Any]] | None:
    """The first route fully matching ``scope``, looking inside included routers (FastAPI ≥ 0.165
    keeps each ``include_router`` as one entry without a path, its routes under ``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None and getattr(route, "path", None) is None:
            found = _match(inner.routes, scope)
            if found is not None:
                return found
            continue
        match, child = route.matches(scope)
        if match == Match.FULL and isinstance(getattr(route, "path", None), str):
            return route.path, child.get("path_params", {})
    return None


class ServicePlane:
    """The ASGI middleware; ``state`` holds the fabric cache, limiter, nonce store and metrics."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = _request_id(headers)
        token = request_id_var.set(rid)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        t0 = time.perf_counter()
        template, service = _route(scope)
        quiet = scope["path"] in _QUIET or template == "unmatched"
        status, started = [500], [False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                started[0] = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        reason: str | None = None
        # the api.call event, written by the query's recording when the route arms it (one audit
        # transaction per request), else below
        owed = OwedEvent(lambda code: self._audit_entry(scope, state, template, service, code,
                                                        time.perf_counter() - t0, rid, None))
        owed_token = owed_event.set(None if quiet else owed)
        try:
            body, receive = await self._buffer(scope, receive, headers)
            # one request, one read of the store's change counter (credential, principal, service, plan)
            with self.state.origin.store.call_scope():
                state["public"] = scope["path"].startswith(PUBLIC_PATHS)
                if (scope["method"], template) in IN_THREAD_AUTH and not quiet and _credentialed(headers):
                    # checked (credentials, then rate limit) by the endpoint in its own thread, first
                    state[PENDING_AUTH] = lambda: self._in_thread(scope, headers, body, service, state)
                else:
                    await self._admit(scope, headers, body, service, state, quiet)
                await self.app(scope, receive, send_with_id)
                if PENDING_AUTH in state:  # answered before its endpoint ran (e.g. 422): checked now,
                    await to_thread.run_sync(state.pop(PENDING_AUTH))  # so its event names the caller
        except Refused as exc:
            reason = exc.code
            if not started[0]:
                await self._refuse(send_with_id, exc, rid)
        except Exception as exc:  # a bug below: one JSON 500 with the request id, never a traceback
            log.error("unhandled error in %s %s (request %s): %s at %s", scope["method"], scope["path"], rid,
                      type(exc).__name__, where(exc))
            reason = "internal_error"
            if not started[0]:
                await self._refuse(send_with_id, Refused(500, "internal_error", "the server failed on this "
                                   "request; report its request_id to the operator"), rid)
        finally:
            owed_event.reset(owed_token)
            request_id_var.reset(token)
        elapsed = time.perf_counter() - t0
        self.state.metrics.observe(template if quiet else service, scope["method"], status[0], elapsed,
                                   reason or state.get("error_code"))
        if quiet or (owed.written and owed.status == status[0]):
            return
        entry = self._audit_entry(scope, state, template, service, status[0], elapsed, rid, reason)
        if owed.written:  # written as answered, then the response failed: the status it really had
            entry = (*entry[:3], {**(entry[3] or {}), "recorded_status": owed.status})
        await self._audits.submit(entry, service, rid)

    async def _admit(self, scope: Scope, headers: Headers, body: bytes, service: str, state: dict[str, Any],
                     quiet: bool) -> None:
        """Authenticate (on a thread when it reads the store) and rate limit, before the app."""
        principal = await self._authenticate(scope, headers, body)
        if principal is not None:
            state["principal"] = principal.name
            if not quiet:
                await self._limit(principal, service)
        elif state["public"] and not quiet:
            await self._limit(Principal(f"{ANONYMOUS}@{(scope.get('client') or ('?',))[0]}"), service)

    async def _buffer(self, scope: Scope, receive: Receive, headers: Headers) -> tuple[bytes, Receive]:
        """Read the body once (the signature covers its digest) and replay it to the app."""
        limit = self.state.settings.max_request_bytes
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(413, "request_too_large", f"the request body exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refused(413, "request_too_large", f"the request body exceeds {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return body, replay

    async def _authenticate(self, scope: Scope, headers: Headers, body: bytes) -> Principal | None:
        if scope["path"].startswith("/delta-sharing/"):  # its router checks recipients' tokens and signed URLs
            return None
        if _signed(headers):
            return await to_thread.run_sync(self._app_principal, scope, headers, body)
        auth = headers.get("authorization")
        if auth is not None:
            return await to_thread.run_sync(self._token_principal, _bearer(auth))
        if scope["path"] == "/portal" or scope["path"].startswith("/portal/"):  # people: the session cookie
            return await to_thread.run_sync(self._session_principal, headers)
        return None

    def _in_thread(self, scope: Scope, headers: Headers, body: bytes, service: str, state: dict[str, Any]) -> str:
        """The check :meth:`_authenticate` and :meth:`_limit` do on the loop, run in the endpoint's
        thread (:data:`IN_THREAD_AUTH`): a :class:`Refused` it raises is answered by ``__call__``.
        A signature wins over a bearer token, as in :meth:`_authenticate`."""
        state.pop(PENDING_AUTH, None)
        if _signed(headers):
            principal = self._app_principal(scope, headers, body)
        else:
            principal = self._token_principal(_bearer(headers.get("authorization", "")))
        state["principal"] = principal.name
        try:
            self.state.limits.check(principal.name, service, rate=principal.rate_limit, quota=principal.daily_quota)
        except GovfabricError as exc:
            raise Refused(exc.status, "rate_limited", str(exc), getattr(exc, "headers", None)) from None
        return principal.name

    def _session_principal(self, headers: Headers) -> Principal | None:
        """A portal session; none, ended or expired leaves the visitor anonymous (public pages only)."""
        from starlette.requests import cookie_parser

        from govfabric.auth import passwords

        value = cookie_parser(headers.get("cookie", "")).get(passwords.COOKIE)
        if not value:
            return None
        try:
            return Principal(passwords.authenticate(self.state.origin, value))
        except tokens.TokenRefused:
            return None

    def _app_principal(self, scope: Scope, headers: Headers, body: bytes) -> Principal:
        settings = self.state.settings
        try:
            params = httpsig.signature_params(headers)
            key_id = params.get("keyid")
            if not isinstance(key_id, str) or not key_id or len(key_id) > 64:
                raise httpsig.SignatureRefused("unknown_key", "the signature has no keyid")
            cred = self.state.credential(key_id)
            if cred is None:
                raise httpsig.SignatureRefused("unknown_key", "no app has this key id; ask an admin for "
                                               "`govfabric app add` (or use the key id from the last rotate)")
            if not cred.active:
                raise httpsig.SignatureRefused("app_disabled", f"app {cred.principal} is disabled; ask an admin")
            httpsig.verify(httpsig.RequestView(scope["method"], self._url(scope, headers), headers), body,
                           key_id=cred.key_id, secret=cred.secret, alg=cred.alg,
                           first_use=self.state.nonces.first_use, max_age_s=settings.signature_max_age_s,
                           skew_s=settings.signature_clock_skew_s, params=params)
        except httpsig.SignatureRefused as exc:
            raise Refused(401, exc.code, str(exc)) from None
        return Principal(cred.principal, cred.rate_limit, cred.daily_quota)

    def _token_principal(self, value: str) -> Principal:
        try:
            return Principal(self._tokens(value))
        except tokens.TokenRefused as exc:
            raise Refused(401, exc.code, str(exc)) from None

    @cached_property
    def _tokens(self) -> TokenCache:
        return TokenCache(self.state.origin)

    @staticmethod
    def _url(scope: Scope, headers: Headers) -> str:
        """The target URI as the client addressed it (scheme and Host header, path, query)."""
        scheme = scope.get("scheme", "http")
        host = headers.get("host") or "{}:{}".format(*scope.get("server", ("localhost", 80)))
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")

    async def _limit(self, principal: Principal, service: str) -> None:
        limits = self.state.limits
        try:
            if self.state.settings.redis_url:
                await to_thread.run_sync(lambda: limits.check(principal.name, service, rate=principal.rate_limit,
                                                              quota=principal.daily_quota))
            else:
                limits.check(principal.name, service, rate=principal.rate_limit, quota=principal.daily_quota)
        except GovfabricError as exc:
            raise Refused(exc.status, "rate_limited", str(exc), getattr(exc, "headers", None)) from None

    @staticmethod
    async def _refuse(send: Send, exc: Refused, rid: str) -> None:
        message, _, hint = str(exc).partition("; ")
        body = ErrorBody(code=exc.code, message=redact(message), hint=hint or None, request_id=rid)
        raw = json.dumps(body.model_dump(), ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                   *((k.lower().encode(), v.encode()) for k, v in exc.headers.items())]
        if exc.status == 401:
            headers.append((b"www-authenticate", b'Signature, Bearer'))
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    def _audit_entry(self, scope: Scope, state: dict[str, Any], template: str, service: str, status: int,
                     elapsed: float, rid: str, reason: str | None) -> Entry:
        """The ``api.call`` event: caller, service, parameter NAMES (never values), status, latency."""
        names = sorted({k[:64] for k, _ in _query_pairs(scope.get("query_string", b""))})[:50]
        details: dict[str, Any] = {"method": scope["method"], "route": template, "params": names,
                                   "status": status, "latency_ms": round(elapsed * 1000, 2), "request_id": rid}
        if reason:
            details["reason"] = reason
        extra = state.get("audit")
        if isinstance(extra, dict):  # what a router adds, e.g. {"rows": 20}
            details.update({k: v for k, v in extra.items() if k not in details})
        actor = state.get("principal") or ANONYMOUS
        return (actor, "api.call", f"api:{service}", details)

    @cached_property
    def _audits(self) -> GroupAudit:
        return GroupAudit(self.state)


class GroupAudit:
    """``api.call`` events written in groups: while one group's transaction runs, the requests
    finishing meanwhile queue, and the next of them writes the whole queue in one transaction
    (one lock of the audit chain's head, one round trip of inserts, one thread hop) — under load
    one transaction for many requests instead of one each, all of them waiting on that lock. Each
    request still returns only once its own event is committed (or its failure logged), as before."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._queue: list[tuple[Entry, str, str, list[bool]]] = []
        self._lock: tuple[Any, asyncio.Lock] | None = None

    def _lock_of_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:  # a lock serves the loop it was made in
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def submit(self, entry: Entry, service: str, rid: str) -> None:
        done = [False]
        self._queue.append((entry, service, rid, done))
        async with self._lock_of_loop():
            if done[0]:  # written by the group of an earlier request
                return
            group, self._queue = self._queue, []
            try:
                await to_thread.run_sync(self._write, group)
            finally:
                for *_, flag in group:
                    flag[0] = True

    def _write(self, group: list[tuple[Entry, str, str, list[bool]]]) -> None:
        try:
            with self.state.origin.store.session(pipelined=True) as s:  # lock, inserts, COMMIT: 2 round trips
                append_many(s, [entry for entry, *_ in group])
            return
        except Exception as exc:  # one bad event must not lose the others: each on its own, below
            if len(group) == 1:
                self._failed(group[0], exc)
                return
        for item in group:
            try:
                with self.state.origin.store.session(pipelined=True) as s:
                    append_many(s, [item[0]])
            except Exception as exc:
                self._failed(item, exc)

    def _failed(self, item: tuple[Entry, str, str, list[bool]], exc: Exception) -> None:
        """The response is sent; never fail silently either."""
        self.state.metrics.audit_failed()
        log.error("could not audit api call %s (request %s): %s at %s", item[1], item[2],
                  type(exc).__name__, where(exc))


def _signed(headers: Headers) -> bool:
    return "signature-input" in headers or "signature" in headers


def _credentialed(headers: Headers) -> bool:
    """A signature or an ``Authorization`` header: credentials to check (a request with neither is anonymous)."""
    return _signed(headers) or "authorization" in headers


def _bearer(auth: str) -> str:
    """The token of an ``Authorization: Bearer`` header; any other form is a 401."""
    kind, _, value = auth.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise Refused(401, "token_invalid", "use Authorization: Bearer <token> (see `govfabric token create`)")
    return value.strip()


def _query_pairs(raw: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True, max_num_fields=200)
    except ValueError:
        return [("(too many parameters)", "")]


class Principal:
    """Who a request acts as, and that caller's own limits (an app's)."""

    __slots__ = ("daily_quota", "name", "rate_limit")

    def __init__(self, name: str, rate_limit: str | None = None, daily_quota: str | None = None) -> None:
        self.name, self.rate_limit, self.daily_quota = name, rate_limit, daily_quota


class CredentialCache:
    """``key id -> Credential`` kept while the store's generation counter stands still (one
    primary-key read instead of a store query and a secret decryption per signed request).
    ``apps.rotate``/``set_active`` move the counter in their transaction, ``apps.add`` through the
    principals' trigger; unknown key ids are never kept (a stranger's guesses cannot fill memory)."""

    MAX = 4096

    def __init__(self, origin: Any) -> None:
        self.origin = origin
        self._kept: dict[str, tuple[int, apps.Credential]] = {}

    def __call__(self, key_id: str) -> apps.Credential | None:
        from govfabric.virtualization import cache

        found = cache.current(self.origin.store)
        if found is not None:
            hit = self._kept.get(key_id)
            if hit is not None and hit[0] == found[1]:
                return hit[1]
        cred = apps.credential(self.origin, key_id)
        if found is not None and cred is not None:  # read after the generation: never newer than its key
            if len(self._kept) >= self.MAX:
                self._kept.clear()
            self._kept[key_id] = (found[1], cred)
        return cred


class TokenCache:
    """``token digest -> (principal, expiry)`` kept while the store's generation counter stands still,
    as :class:`CredentialCache`: a bearer call checks its token without a store query. ``tokens.revoke``
    moves the counter in its transaction, a principal's deactivation by trigger; the expiry is checked
    on every call; refused tokens are never kept."""

    MAX = 4096

    def __init__(self, origin: Any) -> None:
        self.origin = origin
        self._kept: dict[str, tuple[int, str, Any]] = {}

    def __call__(self, token: str) -> str:
        from govfabric.store.base import utcnow
        from govfabric.virtualization import cache

        if not token.startswith(tokens.PREFIX) or len(token) > 200:
            raise tokens.TokenRefused("token_invalid", "the access token is not a govfabric token")
        found = cache.current(self.origin.store)
        key = tokens.digest(self.origin, token)
        hit = self._kept.get(key)
        if found is not None and hit is not None and hit[0] == found[1]:
            if hit[2] is not None and hit[2] <= utcnow():
                raise tokens.TokenRefused("token_expired", "the access token has expired; create a new one")
            return hit[1]
        principal, expires = tokens.checked(self.origin, token)
        if found is not None:  # read after the generation: never newer than its token
            if len(self._kept) >= self.MAX:
                self._kept.clear()
            self._kept[key] = (found[1], principal, expires)
        return principal


def credential_lookup(origin: Any) -> Callable[[str], apps.Credential | None]:
    return CredentialCache(origin)
