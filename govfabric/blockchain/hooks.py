"""Put virtualization grants on chain (§8.4.2.8): each grant and revocation becomes a
contract call by the owning department, inside the grant's own store transaction —
if the chain refuses, the grant is not made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from govfabric.errors import NotFound
from govfabric.hooks import GrantMade, GrantRevoked, Subscription, on

if TYPE_CHECKING:
    from govfabric.fabric import Fabric
    from govfabric.virtualization.models import Grant


def _owner(fabric: Fabric, grant: Grant) -> tuple[str, str] | None:
    """The granted table's asset and owning department, read through the services (their
    sessions re-enter the grant's transaction)."""
    try:
        asset = fabric.catalog.asset(fabric.virtual.table(grant.table_name).asset_id)
    except NotFound:
        return None
    return asset.id, asset.owner_department or "unowned"


def record_grant(event: GrantMade) -> None:
    fabric, grant = event.fabric, event.grant
    if not fabric.settings.chain_record_grants:
        return
    owner = _owner(fabric, grant)
    if owner is not None:
        fabric.chain.record_grant(str(grant.id), owner[0], owner[1], grant.grantee, grant.expires_at)


def revoke_grant(event: GrantRevoked) -> None:
    fabric, grant = event.fabric, event.grant
    if not fabric.settings.chain_record_grants:
        return
    owner = _owner(fabric, grant)
    if owner is not None:
        fabric.chain.revoke_grant(str(grant.id), owner[1], owner[0])


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    on(GrantMade, record_grant),
    on(GrantRevoked, revoke_grant),
)
