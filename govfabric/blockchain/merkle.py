"""Merkle trees with inclusion proofs, domain-separated against second preimages.

Leaves are hashed as ``H(0x00 || data)`` and inner nodes as ``H(0x01 || left || right)``
so no leaf can pose as an inner node. The tree is index-based (RFC 6962 style): an
odd node at the end of a level is promoted unchanged rather than duplicated, so
no two different batches share a root by repeating their last record. A proof is
the list of sibling hashes from the leaf up; the leaf's index and the leaf count
fix which side each sibling is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from govfabric.blockchain.hashing import HashAlgorithm, get_hash
from govfabric.errors import ValidationFailed

LEAF = b"\x00"
NODE = b"\x01"


@dataclass(frozen=True)
class Proof:
    index: int
    leaf_count: int
    siblings: list[bytes]

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "leaf_count": self.leaf_count,
            "siblings": [s.hex() for s in self.siblings],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Proof:
        try:
            siblings = [bytes.fromhex(str(s)) for s in data["siblings"]]  # type: ignore[attr-defined]
            return cls(int(data["index"]), int(data["leaf_count"]), siblings)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"malformed Merkle proof: {exc}") from exc


class MerkleTree:
    """All levels of a tree, built once; proofs are read from the stored levels."""

    def __init__(self, leaves: list[bytes], algorithm: str | HashAlgorithm = "sha256") -> None:
        if not leaves:
            raise ValidationFailed("cannot build a Merkle tree of an empty batch")
        self.algorithm = get_hash(algorithm) if isinstance(algorithm, str) else algorithm
        new = self.algorithm.new
        if new is not None:  # the hot path: no Python-level wrapper per hash
            level = [new(LEAF + leaf).digest() for leaf in leaves]
        else:
            h = self.algorithm.digest
            level = [h(LEAF + leaf) for leaf in leaves]
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            n = len(level)
            if new is not None:
                nxt = [new(NODE + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
            else:
                nxt = [h(NODE + a + b) for a, b in zip(level[0::2], level[1::2], strict=False)]
            if n % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def leaf_count(self) -> int:
        return len(self.levels[0])

    def leaf_hash(self, index: int) -> bytes:
        return self.levels[0][index]

    def proof(self, index: int) -> Proof:
        if not 0 <= index < self.leaf_count:
            raise ValidationFailed(f"leaf index {index} outside a tree of {self.leaf_count} leaves")
        siblings: list[bytes] = []
        i = index
        for level in self.levels[:-1]:
            sib = i ^ 1
            if sib < len(level):
                siblings.append(level[sib])
            i >>= 1
        return Proof(index, self.leaf_count, siblings)

    def proofs(self) -> list[Proof]:
        """Every leaf's proof; cheaper than calling :meth:`proof` in a loop."""
        count = self.leaf_count
        per_level = [(level, len(level)) for level in self.levels[:-1]]
        out: list[Proof] = []
        append = out.append
        for index in range(count):
            siblings = []
            i = index
            for level, n in per_level:
                sib = i ^ 1
                if sib < n:
                    siblings.append(level[sib])
                i >>= 1
            append(Proof(index, count, siblings))
        return out


def root_from_proof(leaf: bytes, proof: Proof, algorithm: str | HashAlgorithm = "sha256") -> bytes:
    """The root that ``leaf`` and ``proof`` lead to (raises if the proof's shape is wrong)."""
    algo = get_hash(algorithm) if isinstance(algorithm, str) else algorithm
    h = algo.digest
    if not 0 <= proof.index < proof.leaf_count:
        raise ValidationFailed(f"proof index {proof.index} outside a tree of {proof.leaf_count} leaves")
    node = h(LEAF + leaf)
    i, n = proof.index, proof.leaf_count
    used = 0
    while n > 1:
        sib = i ^ 1
        if sib < n:
            if used >= len(proof.siblings):
                raise ValidationFailed("Merkle proof is too short for its leaf count")
            other = proof.siblings[used]
            used += 1
            node = h(NODE + other + node) if i & 1 else h(NODE + node + other)
        i >>= 1
        n = (n + 1) // 2
    if used != len(proof.siblings):
        raise ValidationFailed("Merkle proof is longer than its leaf count allows")
    return node


def verify_proof(leaf: bytes, proof: Proof, root: bytes, algorithm: str | HashAlgorithm = "sha256") -> bool:
    try:
        return root_from_proof(leaf, proof, algorithm) == root
    except ValidationFailed:
        return False


def tree_to_bytes(tree: MerkleTree) -> bytes:
    """Every level, leaves first, concatenated: proofs are read back from it in O(log n)."""
    return b"".join(b"".join(level) for level in tree.levels)


def _level_sizes(leaf_count: int) -> list[int]:
    sizes = [leaf_count]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def sibling_positions(leaf_count: int, index: int) -> list[tuple[int, int]]:
    """(level, position) of each sibling in leaf ``index``'s proof, leaves being level 0."""
    if not 0 <= index < leaf_count:
        raise ValidationFailed(f"leaf index {index} outside a tree of {leaf_count} leaves")
    out: list[tuple[int, int]] = []
    i = index
    for level, n in enumerate(_level_sizes(leaf_count)[:-1]):
        if (i ^ 1) < n:
            out.append((level, i ^ 1))
        i >>= 1
    return out


def tree_chunks(tree: MerkleTree, per_chunk: int) -> list[tuple[int, int, bytes]]:
    """The tree as (level, chunk number, bytes of up to ``per_chunk`` nodes), for storage in rows."""
    out = []
    for level, nodes in enumerate(tree.levels):
        for chunk, start in enumerate(range(0, len(nodes), per_chunk)):
            out.append((level, chunk, b"".join(nodes[start : start + per_chunk])))
    return out


def sibling_offsets(leaf_count: int, index: int, width: int = 32) -> list[int]:
    """Byte offsets, in a stored tree, of the siblings that make up leaf ``index``'s proof."""
    if not 0 <= index < leaf_count:
        raise ValidationFailed(f"leaf index {index} outside a tree of {leaf_count} leaves")
    offsets: list[int] = []
    base, i = 0, index
    for n in _level_sizes(leaf_count)[:-1]:
        if (i ^ 1) < n:
            offsets.append((base + (i ^ 1)) * width)
        base += n
        i >>= 1
    return offsets


def proof_from_bytes(blob: bytes, leaf_count: int, index: int, width: int = 32) -> Proof:
    """The proof of leaf ``index`` from a stored tree (see :func:`tree_to_bytes`)."""
    sizes = _level_sizes(leaf_count)
    if len(blob) != sum(sizes) * width:
        raise ValidationFailed(
            f"stored Merkle tree has {len(blob)} bytes, expected {sum(sizes) * width} for {leaf_count} leaves"
        )
    if not 0 <= index < leaf_count:
        raise ValidationFailed(f"leaf index {index} outside a tree of {leaf_count} leaves")
    siblings: list[bytes] = []
    offset, i = 0, index
    for n in sizes[:-1]:
        sib = i ^ 1
        if sib < n:
            start = (offset + sib) * width
            siblings.append(blob[start : start + width])
        offset += n
        i >>= 1
    return Proof(index, leaf_count, siblings)
