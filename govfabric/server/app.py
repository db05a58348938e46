"""The FastAPI app of ``govfabric serve``: error handlers, the service-plane middleware
(request id, authentication, rate limits, metrics, audit), the probes and every router in
:data:`ROUTERS`.

``create_app(fabric)`` takes an admin façade of the workspace (the *origin*); the app acts as each
caller through ``app.state.fabrics`` (a :class:`FabricCache`: ``name -> origin.as_user(name)``).
``from_env`` is the uvicorn factory (``--factory``, used with ``--workers``): the workspace is
``GOVFABRIC_HOME``."""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI

from govfabric.auth import httpsig
from govfabric.config import Settings
from govfabric.server import errors
from govfabric.server.limits import Limits
from govfabric.server.metrics import Metrics
from govfabric.server.middleware import ServicePlane, credential_lookup

if TYPE_CHECKING:
    from collections.abc import Callable

    from govfabric.auth.apps import Credential
    from govfabric.fabric import Fabric

#: routers mounted by every server: "module:attribute" of an ``APIRouter``
ROUTERS: tuple[str, ...] = (
    "govfabric.server.routes:router",
    "govfabric.sharing_modes.query_api.router:router",
    "govfabric.sharing_modes.data_service.router:router",
    "govfabric.sharing_modes.files.router:router",
    "govfabric.sharing_modes.process.router:router",
    "govfabric.prefill.router:router",
    "govfabric.sharing_modes.sync.router:router",
    "govfabric.notify.router:router",
    "govfabric.sharing_modes.catalog_api.router:router",
    "govfabric.sharing_modes.delta_sharing.router:router",
    "govfabric.sharing_modes.routing.router:router",
    "govfabric.sharing_modes.portal.router:router",
    "govfabric.sharing_modes.portal.share_pages:router",
    "govfabric.sharing_modes.portal.topic_pages:router",
    "govfabric.sharing_modes.portal.asset_pages:router",
    "govfabric.sharing_modes.portal.account_pages:router",
)
log = logging.getLogger("govfabric.server")
#: the signature nonces shared by a host's server processes when there is no Redis (``from_env``)
NONCE_FILE = "server/nonces.sqlite"


class FabricCache:
    """``name -> Fabric`` acting as that principal, one façade per principal, thread-safe.

    A façade re-reads its principal when principals change (disabled, roles changed), so caching
    it is safe. Its query service and default engine are built here under the lock: FastAPI runs
    sync endpoints in threads, and lazily created attributes (``cached_property``, the engine dict)
    are not safe to create from two threads at once. Queries themselves may then run concurrently:
    the DuckDB engine takes a cursor per query and locks its (re)connection."""

    def __init__(self, origin: Fabric) -> None:
        self.origin = origin
        self._fabrics: dict[str, Fabric] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Fabric:
        found = self._fabrics.get(name)
        if found is not None:
            return found
        with self._lock:
            found = self._fabrics.get(name)
            if found is None:
                found = self.origin if name == self.origin.user else self.origin.as_user(name)
                found.queries.engine()  # build the lazy parts once, before threads share the façade
                self._fabrics[name] = found
            return found

    def known(self, name: str) -> Fabric | None:
        """The façade of ``name`` if already built (no lock, nothing built: safe on the event loop)."""
        return self._fabrics.get(name)

    def close(self) -> None:
        """Release every façade's engines, then the origin (the store's pool)."""
        with self._lock:
            for f in self._fabrics.values():
                if f is not self.origin:
                    f.release_engines()
            self._fabrics.clear()
        self.origin.close()


@dataclass
class ServerState:
    """What the middleware and probes share; ``app.state.server``."""

    origin: Fabric
    settings: Settings
    fabrics: FabricCache
    limits: Limits
    nonces: httpsig.NonceStore | httpsig.FileNonceStore | httpsig.RedisNonceStore
    metrics: Metrics
    credential: Callable[[str], Credential | None]


def _router(target: str):  # type: ignore[no-untyped-def]
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr or "router")


def create_app(fabric: Fabric, routers: tuple[str, ...] | None = None, *, shared_nonces: bool = False) -> FastAPI:
    """The app serving the workspace of ``fabric`` (an admin façade: the origin of every caller's).
    ``shared_nonces``: without Redis, keep signature nonces in the workspace's file shared by every
    server process of the host (:data:`NONCE_FILE`), not in this process's memory."""
    settings = fabric.settings
    fabric.queries.engine()  # the origin serves /readyz from threads: build its lazy parts now
    cache = FabricCache(fabric)
    state = ServerState(
        origin=fabric, settings=settings, fabrics=cache, limits=Limits.from_settings(settings),
        nonces=httpsig.nonce_store(settings.redis_url, settings.signature_max_age_s, settings.signature_clock_skew_s,
                                   settings.home / NONCE_FILE if shared_nonces else None),
        metrics=Metrics(), credential=credential_lookup(fabric))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        log.info("shutting down: closing the workspace's engines and store connections")
        cache.close()

    from govfabric import __version__

    app = FastAPI(title="govfabric", version=__version__, lifespan=lifespan,
                  description="The service plane of a govfabric workspace: signed calls from business "
                              "systems (RFC 9421) and personal access tokens. See docs/api.md.")
    errors.install(app)
    app.state.fabrics = cache
    app.state.server = state
    for target in ROUTERS if routers is None else routers:
        app.include_router(_router(target))
    app.add_middleware(ServicePlane, state=state)
    return app


def from_env() -> FastAPI:
    """The uvicorn factory: the workspace in ``GOVFABRIC_HOME``, served as its configured user."""
    from govfabric.fabric import connect

    app = create_app(connect(), shared_nonces=True)  # uvicorn's --workers are processes: one nonce store
    serving_gc()
    return app


#: the cyclic collector's young-generation threshold in a serving process (CPython's default: 700)
GC_YOUNG = 20_000


def serving_gc() -> None:
    """The cyclic GC of a process that serves: what start-up built (modules, the app, the workspace)
    frozen out of its passes, and a young pass every :data:`GC_YOUNG` container allocations net
    instead of 700. A service call allocates thousands of short-lived containers that reference
    counting frees anyway; at the default a young pass ran every few calls and an older one every
    few dozen, walking start-up's objects each time: ~12 % of a worker's CPU (``service_lookup.py``).
    Cyclic garbage is still collected, later. For served processes only (``from_env``): a test
    process creating apps by the dozen keeps the default."""
    gc.collect()
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, *older)
