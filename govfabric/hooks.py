"""Cross-module reactions: a module says what happened by emitting a typed event; other modules
react to it without the emitter knowing them (the catalog knows nothing of PII detection, the
grants nothing of the chain).

Who reacts to what is listed once: :data:`INTEGRATIONS` names the reacting modules, each of which
declares ``SUBSCRIPTIONS``, a tuple of :func:`on` pairs. They are imported on the first
:func:`emit` (entry-point style), so an emitter's import stays cheap and nothing is registered
twice however many ``Fabric`` objects a process makes. Adding a reaction touches its own module
(and this tuple, for a new module).

Semantics, the same for every event:

- subscribers run synchronously, in :data:`INTEGRATIONS` order and then in the order of each
  module's ``SUBSCRIPTIONS``;
- an event carrying a ``session`` is emitted inside the caller's transaction: subscribers write
  through that session (or ``store.session()``, which re-enters it), and a subscriber's exception
  propagates to the caller and rolls the whole change back — a grant the chain refuses is not
  made, a table whose default masks fail is not created;
- a subscriber whose effect lies outside the store (the chain) cannot be rolled back with it: list
  it after those that may still fail (the chain's grant records are the only GrantMade and
  GrantRevoked subscribers today, so they run last, after the audit event);
- :class:`HarvestDone` is emitted after the harvest committed: an error reaches the caller, the
  harvest stays.

A plain registry rather than pluggy: six events, three subscribers and one process — typed
dataclasses checked by mypy say more than hookspec names, and there is no third-party plugin to
discover.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.catalog.harvest.sync import SyncReport
    from govfabric.fabric import Fabric
    from govfabric.virtualization.models import Grant, VirtualTableRow
    from govfabric.virtualization.pipeline import PlannedQuery


@dataclass(frozen=True)
class Event:
    """What happened, in which workspace and as whom (``fabric.actor``)."""

    fabric: Fabric


@dataclass(frozen=True)
class GrantMade(Event):
    """A grant was added (flushed, with its id) in ``session``."""

    session: Session
    grant: Grant


@dataclass(frozen=True)
class GrantRevoked(Event):
    """A grant was revoked in ``session``."""

    session: Session
    grant: Grant


@dataclass(frozen=True)
class TableCreated(Event):
    """A virtual table was created (flushed) in ``session``."""

    session: Session
    row: VirtualTableRow


@dataclass(frozen=True)
class TableRemapped(Event):
    """A virtual table's columns were pointed at other physical columns in ``session``."""

    session: Session
    row: VirtualTableRow


@dataclass(frozen=True)
class QueryRecorded(Event):
    """A virtual query (answered, refused or failed) was logged in ``session``; ``planned`` is None
    when it did not plan."""

    session: Session
    sql: str
    planned: PlannedQuery | None
    status: str


@dataclass(frozen=True)
class HarvestDone(Event):
    """A source's harvest committed (no session: reactions run their own transactions)."""

    report: SyncReport


E = TypeVar("E", bound=Event)
Subscription = tuple[type[Event], Callable[[Any], None]]

#: the modules that react to other modules' events, each with ``SUBSCRIPTIONS``; imported on first emit
INTEGRATIONS: tuple[str, ...] = (
    "govfabric.blockchain.hooks",
    "govfabric.governance.security.hooks",
    "govfabric.sharing_modes.data_service.hooks",
)

_registry: dict[type[Event], list[Callable[[Any], None]]] | None = None


def on(event: type[E], fn: Callable[[E], None]) -> Subscription:
    """One subscription: ``fn`` is called with every ``event`` (typed, so mypy checks ``fn``)."""
    return (event, fn)


def subscribers() -> dict[type[Event], list[Callable[[Any], None]]]:
    """Event type → subscribers in call order (loads :data:`INTEGRATIONS` once)."""
    global _registry
    if _registry is None:
        found: dict[type[Event], list[Callable[[Any], None]]] = {}
        for name in INTEGRATIONS:
            for event, fn in importlib.import_module(name).SUBSCRIPTIONS:
                found.setdefault(event, []).append(fn)
        _registry = found
    return _registry


def emit(event: Event) -> None:
    """Call every subscriber of ``type(event)`` in order; the first exception propagates (see the
    module docstring: inside the caller's transaction, it rolls the change back)."""
    for fn in subscribers().get(type(event), ()):
        fn(event)


@contextmanager
def subscribed(event: type[E], fn: Callable[[E], None]) -> Iterator[None]:
    """Add a subscriber for the duration of a block (tests). It runs before the listed ones, where
    a failure is still undone everywhere (see the module docstring)."""
    chain = subscribers().setdefault(event, [])
    chain.insert(0, fn)
    try:
        yield
    finally:
        chain.remove(fn)
