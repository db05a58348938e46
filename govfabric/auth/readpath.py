"""The guarded read path: a registry of every entry point that reads source data.

Every read of source data on behalf of a principal either goes through the virtual SQL
pipeline as that principal (``via="pipeline"``: grants, masks, row filters and the
query's own audit apply) or is a steward action of the owning department
(``via="steward"``: a steward of the asset's ``owner_department`` or an admin, with one
``data.read`` audit event naming the entry point and the asset). ``via="operator"``
marks a reader no workspace principal reaches (a party service reading a file its
operator named). Tests walk :data:`REGISTRY`: an analyst without a grant is refused by
every entry, and no module outside an allow-list opens a source connection itself.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from govfabric.errors import AccessDenied

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor
    from govfabric.catalog.models import Asset
    from govfabric.fabric import Fabric

VIAS = ("pipeline", "steward", "operator")
F = TypeVar("F", bound=Callable[..., Any])
#: (fabric, asset refs or Asset rows) read by one call; given the call's own arguments
Target = Callable[..., tuple["Fabric", "Any"]]


@dataclass(frozen=True)
class EntryPoint:
    name: str
    via: str
    function: Callable[..., Any]
    where: str  # module.qualname
    harvest: bool = False  # also allowed as part of a harvest of the asset's source


REGISTRY: dict[str, EntryPoint] = {}

#: the source being harvested by this thread's actor (set by the harvest hooks only)
_HARVEST: ContextVar[tuple[str, str] | None] = ContextVar("govfabric_harvest", default=None)


def may_steward(actor: Actor, owner_department: str | None) -> bool:
    """The one ownership rule: admins, and stewards of the owning department (any steward
    when the asset has no owning department)."""
    if actor.has("admin"):
        return True
    return "steward" in actor.roles and (owner_department is None or actor.department == owner_department)


def require_steward(actor: Actor, owner_department: str | None, action: str) -> None:
    """Raise :class:`AccessDenied` unless ``actor`` may act as the owning department's steward."""
    if not may_steward(actor, owner_department):
        raise AccessDenied(f"{actor.name} may not {action}: only a steward of "
                           f"{owner_department or 'the owning department'} or an admin may")


@contextlib.contextmanager
def harvesting(fabric: Fabric, source: str) -> Iterator[None]:
    """Within a harvest of ``source`` (itself a steward action), entries registered with
    ``harvest=True`` may read that source's assets — values stay in the process."""
    token = _HARVEST.set((fabric.user, source))
    try:
        yield
    finally:
        _HARVEST.reset(token)


def _assets(fabric: Fabric, refs: Any) -> list[Asset]:
    items = refs if isinstance(refs, list | tuple) else [refs]
    out = []
    with fabric.store.session() as s:
        for r in items:
            if r is None:
                continue
            a = fabric.catalog.resolve(s, r) if isinstance(r, str) else r  # a name, or an Asset row
            out.append(a)
        s.expunge_all()
    return out


def guard_read(fabric: Fabric, entry: str, refs: Any | Iterable[Any], *, harvest: bool = False,
               auditors: bool = False) -> list[Asset]:
    """The steward check of ``entry`` on each asset read, then one audit event per asset.
    ``auditors``: the entry returns a digest, never values, so auditors may run it (verifying
    provenance is their work)."""
    from govfabric.auth.audit import append_many

    actor = fabric.actor
    assets = _assets(fabric, refs)
    scope = _HARVEST.get()
    during = []
    for a in assets:
        if may_steward(actor, a.owner_department) or (auditors and "auditor" in actor.roles):
            continue
        src = (a.location or {}).get("source")
        if harvest and scope == (fabric.user, src) and "steward" in actor.roles:
            during.append(a.qualified_name)
            continue
        raise AccessDenied(
            f"{actor.name} may not read {a.qualified_name} through {entry}: it reads the source data itself, "
            f"which only a steward of {a.owner_department or 'the owning department'} or an admin may; "
            "query the virtual table with `govfabric sql` under a grant (`govfabric access request`)")
    with fabric.store.session() as s:  # one batch: one head lock and move for a scan of hundreds
        append_many(s, [(actor.name, "data.read", f"asset:{a.qualified_name}",
                         {"entry": entry, "via": "harvest" if a.qualified_name in during else "steward"})
                        for a in assets])
    return assets


def signature_reads(catalog: Any, ref: str, algo: str | None = None, refresh: bool = False) -> tuple[Fabric, Any]:
    """Target of ``catalog.signature``: a stored digest is catalog metadata (``catalog show``);
    only computing it reads the data."""
    a = catalog.asset(ref)
    cached = a.content_signature and not refresh and (algo is None or algo == a.signature_algo)
    return catalog.fabric, [] if cached else a


def reads_source_data(name: str, *, via: str, target: Target | None = None, harvest: bool = False,
                      auditors: bool = False) -> Callable[[F], F]:
    """Register a data-reading entry point. ``via="steward"`` needs ``target``: called with the
    call's arguments, it returns ``(fabric, asset ref | Asset | list of them)``; the call runs only
    after :func:`guard_read` passed. ``pipeline`` and ``operator`` entries are only recorded."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {VIAS}")
    if via == "steward" and target is None:
        raise ValueError(f"{name}: a steward entry needs target=")

    def wrap(fn: F) -> F:
        out: Any = fn
        if via == "steward":
            assert target is not None

            @functools.wraps(fn)
            def guarded(*args: Any, **kw: Any) -> Any:
                fabric, refs = target(*args, **kw)
                guard_read(fabric, name, refs, harvest=harvest, auditors=auditors)
                return fn(*args, **kw)

            out = guarded
        previous = REGISTRY.get(name)
        where = f"{fn.__module__}.{fn.__qualname__}"
        if previous is not None and previous.where != where:
            raise ValueError(f"entry point {name!r} is registered twice ({previous.where}, {where})")
        REGISTRY[name] = EntryPoint(name, via, fn, where, harvest)
        return out  # type: ignore[no-any-return]

    return wrap


def load_all() -> dict[str, EntryPoint]:
    """Import every module that registers entry points; the registry, complete."""
    import importlib

    for mod in MODULES:
        importlib.import_module(mod)
    return REGISTRY


#: modules holding registered entry points (tests and docs import them all through load_all)
MODULES = (
    "govfabric.virtualization.query",
    "govfabric.governance.quality.service",
    "govfabric.governance.quality.remedies",
    "govfabric.governance.security.sample",
    "govfabric.catalog.service",
    "govfabric.governance.schedule.service",
    "govfabric.mpc.data",
)
