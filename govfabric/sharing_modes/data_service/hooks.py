"""The data service reacts to harvests: subscriptions on the harvested source's tables become due
(one UPDATE); `govfabric subscription run --due` detects and pushes."""

from __future__ import annotations

from govfabric.hooks import HarvestDone, Subscription, on


def mark_due(event: HarvestDone) -> None:
    event.fabric.subscriptions.mark_due(event.report.source)


SUBSCRIPTIONS: tuple[Subscription, ...] = (on(HarvestDone, mark_due),)
