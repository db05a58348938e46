# pragma version 0.4.3
"""
@title govfabric sharing records
@notice The providing department records each exchange: which asset version
        (a salted digest) went to which consumer under which grant.
"""

interface Consortium:
    def is_member(member: address) -> bool: view

event ShareRecorded:
    asset_key: indexed(bytes32)
    provider: indexed(address)
    consumer: indexed(address)
    asset_version_digest: bytes32
    grant_id: bytes32
    record: uint256
    timestamp: uint256

consortium: public(address)
record_count: public(uint256)


@deploy
def __init__(consortium: address):
    self.consortium = consortium


@external
def record_share(
    asset_key: bytes32,
    asset_version_digest: bytes32,
    consumer: address,
    grant_id: bytes32,
) -> uint256:
    assert staticcall Consortium(self.consortium).is_member(msg.sender), "provider is not a consortium member"
    assert staticcall Consortium(self.consortium).is_member(consumer), "consumer is not a consortium member"
    assert asset_version_digest != empty(bytes32), "empty asset version digest"
    self.record_count += 1
    log ShareRecorded(
        asset_key=asset_key,
        provider=msg.sender,
        consumer=consumer,
        asset_version_digest=asset_version_digest,
        grant_id=grant_id,
        record=self.record_count,
        timestamp=block.timestamp,
    )
    return self.record_count
