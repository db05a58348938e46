"""Service registry and routing (§8.4.2.3e, §10.3.5 routing and load balancing).

A published conditional query service may have several providers: govfabric servers that serve it
(replicas, department mirrors). The gateway authorises the caller here exactly as the service itself
would (the caller must hold a grant on the service's table), then forwards the call to a provider
chosen by the service's policy, signed as that provider's app (``govfabric.client.Client``). A
provider's answer (2xx or 4xx) is passed back unchanged; connection errors, timeouts and 5xx fail
over to the next provider. Each provider has a circuit breaker, fed by calls and by the active
health check (``/readyz``), so a dead provider stops being tried. Breakers, round-robin counters and
HTTP clients are per server process (:func:`runtime_of`). Every routed call is audited
(``routing.call``: the provider chosen and each attempt's outcome, parameter names only).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from govfabric.auth.audit import append
from govfabric.auth.readpath import require_steward
from govfabric.errors import AccessDenied, AlreadyExists, NotFound, Unavailable, ValidationFailed
from govfabric.sharing_modes.routing.balance import CLOSED, POLICIES, Breaker, Rotation, order
from govfabric.sharing_modes.routing.models import RoutedService, RouteProvider

if TYPE_CHECKING:
    from collections.abc import Sequence

    from govfabric.client import Client
    from govfabric.fabric import Fabric
    from govfabric.store.engine import Store
    from govfabric.virtualization.policy import TableGrant

log = logging.getLogger("govfabric.routing")
REGION_ATTRIBUTE = "region"
PASSED_HEADERS = ("content-type", "x-next-page-token")


@dataclass(frozen=True)
class ProviderInfo:
    """A provider as listed: never its secret."""

    service: str
    url: str
    weight: int
    region: str | None
    app_id: str
    state: str = CLOSED


@dataclass(frozen=True)
class Health:
    service: str
    url: str
    ok: bool
    detail: str
    state: str


@dataclass(frozen=True)
class Forwarded:
    """A provider's answer, passed back: status, body, content type and paging header."""

    status: int
    body: bytes
    headers: dict[str, str]
    provider: str


@dataclass
class Runtime:
    """What a server process keeps about routing: breakers per provider, rotations per service and
    one HTTP client per provider credential."""

    breakers: dict[str, Breaker] = field(default_factory=dict)
    rotations: dict[str, Rotation] = field(default_factory=dict)
    clients: dict[str, tuple[str, Client]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def breaker(self, provider: RouteProvider, service: RoutedService) -> Breaker:
        with self.lock:
            found = self.breakers.get(provider.id)
            if found is None:
                found = self.breakers[provider.id] = Breaker(service.failures, service.window_s, service.cooldown_s)
            else:
                found.configure(service.failures, service.window_s, service.cooldown_s)
            return found

    def rotation(self, service_id: str) -> Rotation:
        with self.lock:
            return self.rotations.setdefault(service_id, Rotation())

    def close(self) -> None:
        with self.lock:
            for _, client in self.clients.values():
                client.close()
            self.clients.clear()


_RUNTIMES: weakref.WeakKeyDictionary[Store, Runtime] = weakref.WeakKeyDictionary()
_RUNTIMES_LOCK = threading.Lock()


def runtime_of(store: Store) -> Runtime:
    """The routing state of this process for one workspace store (shared by every caller's façade)."""
    with _RUNTIMES_LOCK:
        found = _RUNTIMES.get(store)
        if found is None:
            found = _RUNTIMES[store] = Runtime()
        return found


def _check_url(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationFailed("the provider URL is not a valid URL; give its base, e.g. https://fabric.dept.gov.cn"
                               ) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo or parsed.query or parsed.fragment:
        raise ValidationFailed("the provider URL must be http(s)://host[:port][/path] without credentials, query "
                               "or fragment; give the server's base URL")
    return str(parsed).rstrip("/")


class Routes:
    """``fabric.routes``: register providers and policies (stewards of the service's table), route calls
    (any caller holding the service's grant)."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- registry ---------------------------------------------------------------------------------

    def _steward(self, service: str, action: str) -> None:
        """Who may change a service's routing: a steward of its table's department (or an admin)."""
        row = self.fabric.query_api.get(service)
        _, department = self.fabric.query_api._relation(row.table_name)
        require_steward(self.fabric.actor, department, action)

    def _service(self, s: Any, name: str) -> RoutedService:
        row = s.scalar(select(RoutedService).where(RoutedService.name == name))
        if row is None:
            raise NotFound(f"no routed service {name[:64]}; add a provider with `govfabric route provider add`")
        return row

    def _providers(self, s: Any, service_id: str) -> list[RouteProvider]:
        return list(s.scalars(select(RouteProvider).where(RouteProvider.service_id == service_id)
                              .order_by(RouteProvider.created_at, RouteProvider.id)))

    def add_provider(self, service: str, url: str, *, app_id: str, secret: str, weight: int = 1,
                     region: str | None = None) -> ProviderInfo:
        """Register ``url`` as a provider of query service ``service`` (registering the service for
        routing on its first provider, policy round-robin). The secret is sealed at once."""
        self._steward(service, f"add a provider to {service}")
        url = _check_url(url)
        if weight < 0 or weight > 1000:
            raise ValidationFailed("--weight must be between 0 and 1000")
        if not app_id or not secret:
            raise ValidationFailed("give the provider's app id and its secret (--secret-stdin)")
        actor = self.fabric.actor.name
        with self.store.session() as s:
            svc = s.scalar(select(RoutedService).where(RoutedService.name == service))
            if svc is None:
                svc = RoutedService(name=service, kind="query", created_by=actor)
                s.add(svc)
                s.flush()
                append(s, actor, "routing.service_add", f"route:{service}", {"policy": svc.policy or "round-robin"})
            if any(p.url == url for p in self._providers(s, svc.id)):
                raise AlreadyExists(f"{url} already provides {service}; remove it first to change it")
            row = RouteProvider(service_id=svc.id, url=url, weight=weight, region=region, app_id=app_id,
                                secret_sealed=self.fabric.secrets.seal(secret), created_by=actor)
            s.add(row)
            append(s, actor, "routing.provider_add", f"route:{service}",
                   {"url": url, "weight": weight, "region": region, "app_id": app_id})
        return ProviderInfo(service, url, weight, region, app_id)

    def remove_provider(self, service: str, url: str) -> None:
        self._steward(service, f"remove a provider of {service}")
        url = _check_url(url)
        with self.store.session() as s:
            svc = self._service(s, service)
            row = next((p for p in self._providers(s, svc.id) if p.url == url), None)
            if row is None:
                raise NotFound(f"{url} is not a provider of {service}; list them with `govfabric route provider list`")
            s.delete(row)
            append(s, self.fabric.actor.name, "routing.provider_remove", f"route:{service}", {"url": url})

    def set_policy(self, service: str, policy: str, *, failures: int | None = None, window_s: float | None = None,
                   cooldown_s: float | None = None) -> None:
        """The service's routing policy and its breakers' settings."""
        if policy not in POLICIES:
            raise ValidationFailed(f"unknown policy {policy[:32]!r}; use one of {', '.join(POLICIES)}")
        for label, value in (("--failures", failures), ("--window", window_s), ("--cooldown", cooldown_s)):
            if value is not None and not 0 < value <= 86_400:
                raise ValidationFailed(f"{label} must be positive (and at most a day)")
        self._steward(service, f"set the routing policy of {service}")
        with self.store.session() as s:
            svc = self._service(s, service)
            svc.policy = policy
            svc.failures = int(failures) if failures is not None else svc.failures
            svc.window_s = float(window_s) if window_s is not None else svc.window_s
            svc.cooldown_s = float(cooldown_s) if cooldown_s is not None else svc.cooldown_s
            append(s, self.fabric.actor.name, "routing.policy", f"route:{service}",
                   {"policy": policy, "failures": svc.failures, "window_s": svc.window_s,
                    "cooldown_s": svc.cooldown_s})

    def services(self) -> list[RoutedService]:
        with self.store.session() as s:
            return list(s.scalars(select(RoutedService).order_by(RoutedService.name)))

    def providers(self, service: str | None = None) -> list[ProviderInfo]:
        """Providers (of one service or all), with their breaker's state in this process."""
        runtime = runtime_of(self.store)
        out = []
        with self.store.session() as s:
            services = [self._service(s, service)] if service else list(s.scalars(select(RoutedService)
                                                                                   .order_by(RoutedService.name)))
            for svc in services:
                for p in self._providers(s, svc.id):
                    state = runtime.breakers[p.id].state if p.id in runtime.breakers else CLOSED
                    out.append(ProviderInfo(svc.name, p.url, p.weight, p.region, p.app_id, state))
        return out

    # -- health -----------------------------------------------------------------------------------

    def check(self, service: str | None = None, timeout: float = 2.0) -> list[Health]:
        """Probe ``/readyz`` of each provider now and feed its breaker: a closed breaker counts a
        failed probe; an open one past its cool-down is probed half-open (closed again on success)."""
        runtime = runtime_of(self.store)
        with self.store.session() as s:
            services = [self._service(s, service)] if service else list(s.scalars(select(RoutedService)))
            pairs = [(svc, p) for svc in services for p in self._providers(s, svc.id)]
            s.expunge_all()
        out = []
        for svc, p in pairs:
            breaker = runtime.breaker(p, svc)
            if breaker.state != CLOSED and not breaker.allow():
                out.append(Health(svc.name, p.url, False, "not probed: breaker open", breaker.state))
                continue
            ok, detail = _probe(p.url, timeout)
            (breaker.success if ok else breaker.failure)()
            if breaker.state != CLOSED or not ok:
                log.info("provider %s of %s: %s (breaker %s)", p.url, svc.name, detail, breaker.state)
            out.append(Health(svc.name, p.url, ok, detail, breaker.state))
        return out

    # -- calls ------------------------------------------------------------------------------------

    def forward(self, service: str, params: Sequence[tuple[str, str]], accept: str | None = None) -> Forwarded:
        """Route one call of query service ``service`` as the acting principal (see the module's doc)."""
        t0 = time.perf_counter()
        attempts: list[dict[str, str]] = []
        status, chosen = "error", None
        try:
            with self.store.session() as s:
                svc = self._service(s, service)
                providers = self._providers(s, svc.id)
                s.expunge_all()
            self._authorise(service)
            runtime = runtime_of(self.store)
            region = self.fabric.actor.attributes.get(REGION_ATTRIBUTE)
            region = region if isinstance(region, str) else None
            ordered = order(svc.policy, providers, runtime.rotation(svc.id), region)
            headers = {"Accept": accept} if accept else {}
            skipped = []
            for p in ordered:
                breaker = runtime.breaker(p, svc)
                if not breaker.allow():
                    skipped.append(p)
                    attempts.append({"provider": p.id, "outcome": "skipped: breaker open"})
                    continue
                got = self._attempt(runtime, svc, p, breaker, params, headers, attempts)
                if got is not None:
                    status, chosen = str(got.status), p
                    return got
            if len(skipped) == len(ordered):  # panic: every breaker is open; maybe one recovered, else 503
                for p in ordered:
                    got = self._attempt(runtime, svc, p, runtime.breaker(p, svc), params, headers, attempts)
                    if got is not None:
                        status, chosen = str(got.status), p
                        return got
            status = "unavailable"
            raise Unavailable(f"no provider of {service} answered ({len(providers)} registered); "
                              f"check them with `govfabric route health {service}`")
        except (NotFound, AccessDenied) as exc:
            status = type(exc).__name__
            raise
        finally:
            self._audit(service, status, chosen, attempts, [k for k, _ in params], t0)

    def _attempt(self, runtime: Runtime, svc: RoutedService, p: RouteProvider, breaker: Breaker,
                 params: Sequence[tuple[str, str]], headers: dict[str, str], attempts: list[dict[str, str]]
                 ) -> Forwarded | None:
        """One try at one provider: its answer (2xx-4xx), or None after a failure its breaker counts."""
        try:
            response = self._client(runtime, p).http.request(
                "GET", f"/api/v1/query/{svc.name}", params=list(params), headers=headers)
        except httpx.TransportError as exc:  # connection refused/reset, timeouts
            breaker.failure()
            attempts.append({"provider": p.id, "outcome": type(exc).__name__})
            return None
        attempts.append({"provider": p.id, "outcome": f"http_{response.status_code}"})
        if response.status_code >= 500:
            breaker.failure()
            return None
        breaker.success()
        passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
        return Forwarded(response.status_code, response.content, passed, p.url)

    def _authorise(self, service: str) -> None:
        """The caller must be allowed to call the service HERE, and entitled to every row and column
        of its answer: a provider answers with the gateway app's rows, not the caller's, so a caller
        whose grant withholds rows or leaves out a column (of the table, or of any table a view reads)
        calls the service directly instead, where its own grant applies. Masks are the table's and
        hold at the provider too (the gateway's app there must hold no ``unmasked`` exemption)."""
        if not any(r.name == service for r in self.fabric.query_api.list(callable_only=True)):
            raise AccessDenied(f"{self.fabric.user} may not call {service}: no grant on its table; "
                               "ask its steward for access (`govfabric access request`)")
        row = self.fabric.query_api.get(service)
        policy = self.fabric.access.policy_for(self.fabric.actor)
        checks: list[tuple[str, list[str] | None]]
        if row.table_name in policy.tables:
            checks = [(row.table_name, [*row.params, *row.columns])]
        else:  # a view: every table it reads, whole
            checks = [(t, None) for t in self.fabric.query_api._view_reads({row.table_name}).get(row.table_name, [])]
        for table, columns in checks:
            grant = policy.tables.get(table)
            if grant is None or not _unrestricted(grant, columns):
                raise AccessDenied(
                    f"{self.fabric.user} may not call {service} through the router: its grant on {table} leaves "
                    f"out columns or withholds rows, and providers answer with every row; call "
                    f"/api/v1/query/{service} directly, where that grant applies")

    def _client(self, runtime: Runtime, p: RouteProvider) -> Client:
        """One signing client per provider credential (re-made when the provider row changes)."""
        from govfabric.client import Client

        stamp = hashlib.sha256(f"{p.url}\0{p.app_id}\0{p.secret_sealed}".encode()).hexdigest()
        with runtime.lock:
            found = runtime.clients.get(p.id)
            if found is not None and found[0] == stamp:
                return found[1]
            client = Client(p.url, p.app_id, self.fabric.secrets.open(p.secret_sealed),
                            timeout=self.fabric.settings.route_timeout_s)
            if found is not None:
                found[1].close()
            runtime.clients[p.id] = (stamp, client)
            return client

    def _audit(self, service: str, status: str, chosen: RouteProvider | None, attempts: list[dict[str, str]],
               names: list[str], t0: float) -> None:
        details: dict[str, Any] = {
            "service": service[:64], "status": status, "provider": chosen.url if chosen else None,
            "attempts": attempts[:16], "params": sorted({n[:64] for n in names})[:50],
            "ms": round((time.perf_counter() - t0) * 1000, 2)}
        with self.store.session() as s:
            append(s, self.fabric.user, "routing.call", f"route:{service[:64]}", details)


def _probe(url: str, timeout: float) -> tuple[bool, str]:
    try:
        response = httpx.get(f"{url}/readyz", timeout=timeout)
    except httpx.TransportError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, f"readyz {response.status_code}"


class HealthChecker:
    """The server's background prober: ``fabric.routes.check()`` every ``interval`` seconds."""

    def __init__(self, fabric: Fabric, interval: float) -> None:
        self.fabric, self.interval = fabric, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govfabric-route-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fabric.routes.check(timeout=min(self.interval, 5.0))
            except Exception:  # a probe round must never kill the thread
                log.exception("route health check failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _unrestricted(grant: TableGrant, columns: Sequence[str] | None) -> bool:
    """Whether ``grant`` shows every row and ``columns`` (``None``: every column), masked or not."""
    if grant.filtered or (columns is None and grant.columns is not None):
        return False
    return all(grant.covering(c) for c in columns or ())
