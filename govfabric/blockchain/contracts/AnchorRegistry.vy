# pragma version 0.4.3
"""
@title govfabric anchor registry
@notice One Merkle root per batch of records (content signatures, audit
        segments, sharing records, MPC reports). A root is written once.
"""

interface Consortium:
    def is_member(member: address) -> bool: view

struct Anchor:
    metadata_digest: bytes32
    kind: String[32]
    count: uint256
    submitter: address
    timestamp: uint256
    block: uint256

event Anchored:
    root: indexed(bytes32)
    submitter: indexed(address)
    metadata_digest: bytes32
    kind: String[32]
    count: uint256
    timestamp: uint256

consortium: public(address)
anchors: public(HashMap[bytes32, Anchor])
anchor_count: public(uint256)


@deploy
def __init__(consortium: address):
    self.consortium = consortium


@external
def anchor(root: bytes32, metadata_digest: bytes32, kind: String[32], count: uint256):
    assert staticcall Consortium(self.consortium).is_member(msg.sender), "sender is not a consortium member"
    assert root != empty(bytes32), "empty root"
    assert count > 0, "empty batch"
    assert self.anchors[root].timestamp == 0, "duplicate anchor: root already anchored"
    self.anchors[root] = Anchor(
        metadata_digest=metadata_digest,
        kind=kind,
        count=count,
        submitter=msg.sender,
        timestamp=block.timestamp,
        block=block.number,
    )
    self.anchor_count += 1
    log Anchored(
        root=root,
        submitter=msg.sender,
        metadata_digest=metadata_digest,
        kind=kind,
        count=count,
        timestamp=block.timestamp,
    )
