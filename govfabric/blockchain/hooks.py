"""Put virtualization grants on chain (§8.4.2.8): each grant and revocation becomes a
contract call by the owning department, inside the grant's own store transaction —
if the chain refuses, the grant is not made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset
from govfabric.virtualization import access
from govfabric.virtualization.models import Grant, VirtualTableRow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric


def _owner(session: Session, grant: Grant) -> tuple[str, str] | None:
    vt = session.query(VirtualTableRow).filter(VirtualTableRow.name == grant.table_name).one_or_none()
    asset = session.get(Asset, vt.asset_id) if vt else None
    if asset is None:
        return None
    return asset.id, asset.owner_department or "unowned"


def record_grant(fabric: Fabric, session: Session, grant: Grant) -> None:
    if not fabric.settings.chain_record_grants:
        return
    from govfabric.blockchain.fabric_ops import service_for

    owner = _owner(session, grant)
    if owner is not None:
        service_for(fabric).record_grant(str(grant.id), owner[0], owner[1], grant.grantee, grant.expires_at)


def revoke_grant(fabric: Fabric, session: Session, grant: Grant) -> None:
    if not fabric.settings.chain_record_grants:
        return
    from govfabric.blockchain.fabric_ops import service_for

    owner = _owner(session, grant)
    if owner is not None:
        service_for(fabric).revoke_grant(str(grant.id), owner[1], owner[0])


def register() -> None:
    if record_grant not in access.GRANT_HOOKS:
        access.GRANT_HOOKS.append(record_grant)
        access.REVOKE_HOOKS.append(revoke_grant)
