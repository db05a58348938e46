"""Put virtualization grants on chain (§8.4.2.8): each grant and revocation becomes a
contract call by the owning department, inside the grant's own store transaction —
if the chain refuses, the grant is not made."""

from __future__ import annotations

from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset
from govfabric.hooks import GrantMade, GrantRevoked, Subscription, on
from govfabric.virtualization.models import Grant, VirtualTableRow


def _owner(session: Session, grant: Grant) -> tuple[str, str] | None:
    vt = session.query(VirtualTableRow).filter(VirtualTableRow.name == grant.table_name).one_or_none()
    asset = session.get(Asset, vt.asset_id) if vt else None
    if asset is None:
        return None
    return asset.id, asset.owner_department or "unowned"


def record_grant(event: GrantMade) -> None:
    fabric, grant = event.fabric, event.grant
    if not fabric.settings.chain_record_grants:
        return
    owner = _owner(event.session, grant)
    if owner is not None:
        fabric.chain.record_grant(str(grant.id), owner[0], owner[1], grant.grantee, grant.expires_at)


def revoke_grant(event: GrantRevoked) -> None:
    fabric, grant = event.fabric, event.grant
    if not fabric.settings.chain_record_grants:
        return
    owner = _owner(event.session, grant)
    if owner is not None:
        fabric.chain.revoke_grant(str(grant.id), owner[1], owner[0])


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    on(GrantMade, record_grant),
    on(GrantRevoked, revoke_grant),
)
