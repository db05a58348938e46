"""Merkle trees: every proof verifies, any change does not, leaves cannot pose as nodes."""

from __future__ import annotations

import hashlib
import os

import pytest

from govfabric.blockchain.hashing import HASHES
from govfabric.blockchain.merkle import (
    LEAF,
    NODE,
    MerkleTree,
    Proof,
    proof_from_bytes,
    root_from_proof,
    sibling_offsets,
    tree_to_bytes,
    verify_proof,
)
from govfabric.errors import ValidationFailed


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_every_proof_verifies_and_reads_back_from_the_stored_tree(algorithm: str) -> None:
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33]:
        leaves = [os.urandom(40) for _ in range(n)]
        tree = MerkleTree(leaves, algorithm)
        blob = tree_to_bytes(tree)
        for i, proof in enumerate(tree.proofs()):
            assert proof == tree.proof(i) == proof_from_bytes(blob, n, i)
            assert [blob[o : o + 32] for o in sibling_offsets(n, i)] == proof.siblings
            assert verify_proof(leaves[i], proof, tree.root, algorithm)
            assert not verify_proof(leaves[i] + b"x", proof, tree.root, algorithm)
            if n > 1:
                assert not verify_proof(leaves[(i + 1) % n], proof, tree.root, algorithm)


def test_known_root_for_three_leaves() -> None:
    def h(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    a, b, c = b"a", b"b", b"c"
    ab = h(NODE + h(LEAF + a) + h(LEAF + b))
    expected = h(NODE + ab + h(LEAF + c))  # odd last node promoted, not duplicated
    assert MerkleTree([a, b, c]).root == expected
    assert MerkleTree([a, b, c]).root != MerkleTree([a, b, c, c]).root


def test_inner_node_cannot_pose_as_a_leaf() -> None:
    leaves = [os.urandom(32) for _ in range(4)]
    tree = MerkleTree(leaves)
    left, right = tree.levels[1]
    # the classic second-preimage: present the concatenated children as a one-level-up "leaf"
    forged = Proof(index=0, leaf_count=2, siblings=[])
    assert not verify_proof(left + right, Proof(0, 1, []), tree.root)
    with pytest.raises(ValidationFailed):
        root_from_proof(left + right, forged, "sha256")  # proof too short for its leaf count


def test_proof_for_another_root_and_malformed_proofs_fail() -> None:
    leaves = [os.urandom(32) for _ in range(10)]
    one, other = MerkleTree(leaves), MerkleTree(leaves[:9] + [os.urandom(32)])
    proof = one.proof(3)
    assert verify_proof(leaves[3], proof, one.root)
    assert not verify_proof(leaves[3], proof, other.root)
    assert not verify_proof(leaves[3], Proof(3, 10, proof.siblings[:-1]), one.root)
    assert not verify_proof(leaves[3], Proof(3, 10, [*proof.siblings, b"\x00" * 32]), one.root)
    assert not verify_proof(leaves[3], Proof(12, 10, proof.siblings), one.root)
    with pytest.raises(ValidationFailed):
        Proof.from_json({"index": 0, "siblings": ["zz"]})
    with pytest.raises(ValidationFailed):
        proof_from_bytes(tree_to_bytes(one)[:-1], 10, 0)


def test_empty_batch_refused() -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        MerkleTree([])
