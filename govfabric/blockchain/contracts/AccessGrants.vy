# pragma version 0.4.3
"""
@title govfabric access grants
@notice The department that owns an asset grants and revokes access; anyone
        checks a grant. Grantees are salted digests of principals.
"""

interface Consortium:
    def is_member(member: address) -> bool: view

struct Grant:
    asset_key: bytes32
    grantee: bytes32
    owner: address
    expires: uint256
    granted_at: uint256
    revoked_at: uint256

event Granted:
    grant_id: indexed(bytes32)
    asset_key: indexed(bytes32)
    owner: indexed(address)
    grantee: bytes32
    expires: uint256
    timestamp: uint256

event Revoked:
    grant_id: indexed(bytes32)
    asset_key: indexed(bytes32)
    owner: indexed(address)
    grantee: bytes32
    timestamp: uint256

consortium: public(address)
grants: public(HashMap[bytes32, Grant])
asset_owner: public(HashMap[bytes32, address])


@deploy
def __init__(consortium: address):
    self.consortium = consortium


@external
def grant(grant_id: bytes32, asset_key: bytes32, grantee: bytes32, expires: uint256):
    assert staticcall Consortium(self.consortium).is_member(msg.sender), "sender is not a consortium member"
    assert grant_id != empty(bytes32), "empty grant id"
    assert self.grants[grant_id].granted_at == 0, "grant id already used"
    owner: address = self.asset_owner[asset_key]
    if owner == empty(address):
        self.asset_owner[asset_key] = msg.sender
    else:
        assert owner == msg.sender, "only the department owning the asset grants access"
    assert expires == 0 or expires > block.timestamp, "grant already expired"
    self.grants[grant_id] = Grant(
        asset_key=asset_key,
        grantee=grantee,
        owner=msg.sender,
        expires=expires,
        granted_at=block.timestamp,
        revoked_at=0,
    )
    log Granted(
        grant_id=grant_id,
        asset_key=asset_key,
        owner=msg.sender,
        grantee=grantee,
        expires=expires,
        timestamp=block.timestamp,
    )


@external
def revoke(grant_id: bytes32):
    g: Grant = self.grants[grant_id]
    assert g.granted_at != 0, "unknown grant"
    assert g.owner == msg.sender, "only the owning department revokes"
    assert g.revoked_at == 0, "grant already revoked"
    self.grants[grant_id].revoked_at = block.timestamp
    log Revoked(
        grant_id=grant_id,
        asset_key=g.asset_key,
        owner=msg.sender,
        grantee=g.grantee,
        timestamp=block.timestamp,
    )


@view
@external
def is_granted(grant_id: bytes32, asset_key: bytes32, grantee: bytes32) -> bool:
    g: Grant = self.grants[grant_id]
    if g.granted_at == 0 or g.revoked_at != 0:
        return False
    if g.asset_key != asset_key or g.grantee != grantee:
        return False
    if g.expires != 0 and g.expires <= block.timestamp:
        return False
    return staticcall Consortium(self.consortium).is_member(g.owner)
