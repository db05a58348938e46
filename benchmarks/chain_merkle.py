"""Merkle root and inclusion proofs for a large batch (default 1,000,000 records).

Measures, for N records (item id + SHA-256 content digest): building every salted
leaf and the whole tree (goal ≤ 5 s for 1M), reading proofs back from the stored tree,
and verifying a proof (goal ≤ 1 ms each). The anchor measured in the same run is one
bare SHA-256 per record over the same bytes — the floor any Merkle scheme pays.
``--anchor`` also anchors the batch through the chain service on the embedded chain
and counts the transactions it took (one).

    python benchmarks/chain_merkle.py [--records 1000000] [--proofs 10000] [--anchor]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
import time
from pathlib import Path

from govfabric.blockchain.merkle import MerkleTree, proof_from_bytes, tree_to_bytes, verify_proof
from govfabric.blockchain.salts import leaf_data

RESULTS = Path(os.environ.get("GOVFABRIC_BENCH_RESULTS") or Path(__file__).parent / "results")  # see common.RESULTS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=10_000)
    ap.add_argument("--algorithm", default="sha256", choices=["sha256", "keccak256", "sm3"])
    ap.add_argument("--anchor", action="store_true", help="also anchor the batch on the embedded chain")
    args = ap.parse_args()
    n = args.records
    ids = [f"record-{i}" for i in range(n)]
    digests = [hashlib.sha256(i.encode()).digest() for i in ids]

    t0 = time.perf_counter()
    for i, d in zip(ids, digests, strict=True):
        hashlib.sha256(i.encode() + d).digest()
    anchor_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    salts = os.urandom(32 * n)
    leaves = [leaf_data(salts[32 * k : 32 * k + 32], ids[k], digests[k]) for k in range(n)]
    tree = MerkleTree(leaves, args.algorithm)
    blob = tree_to_bytes(tree)
    build_s = time.perf_counter() - t0

    sample = random.Random(7).sample(range(n), min(args.proofs, n))
    t0 = time.perf_counter()
    proofs = [proof_from_bytes(blob, n, k) for k in sample]
    read_s = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    for k, proof in zip(sample, proofs, strict=True):
        assert verify_proof(leaves[k], proof, tree.root, args.algorithm)
    verify_s = (time.perf_counter() - t0) / len(sample)

    result: dict[str, object] = {
        "records": n,
        "algorithm": args.algorithm,
        "build_s": round(build_s, 3),
        "anchor_one_hash_per_record_s": round(anchor_s, 3),
        "build_vs_anchor": round(build_s / anchor_s, 2),
        "proof_read_ms": round(read_s * 1000, 4),
        "proof_verify_ms": round(verify_s * 1000, 4),
        "proof_siblings": len(proofs[0].siblings),
        "stored_tree_mb": round(len(blob) / 1e6, 1),
        "goal_build_le_5s": build_s <= 5,
        "goal_verify_le_1ms": verify_s <= 0.001,
    }
    if args.anchor:
        result.update(anchor_on_chain(ids, digests))
    print(
        f"{n:,} records ({args.algorithm}): build {build_s:.2f} s (anchor: one SHA-256 per record "
        f"{anchor_s:.2f} s, ratio {build_s / anchor_s:.1f}×); proof read {read_s * 1e3:.3f} ms, "
        f"verify {verify_s * 1e3:.3f} ms; tree {len(blob) / 1e6:.0f} MB"
    )
    if args.anchor:
        print(
            f"anchored on the embedded chain in {result['anchor_total_s']} s with {result['transactions']} tx"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chain_merkle.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def anchor_on_chain(ids: list[str], digests: list[bytes]) -> dict[str, object]:
    from types import SimpleNamespace

    from govfabric.blockchain.books import StoreJournal
    from govfabric.blockchain.service import ChainService
    from govfabric.store import Store

    home = Path(tempfile.mkdtemp(prefix="chain-merkle-bench-"))
    store = Store(f"sqlite:///{home / 'store.db'}")
    store.migrate()
    svc = ChainService(store, SimpleNamespace(home=home, chain_url=None))
    svc.ensure_ready()
    before = StoreJournal(store).count()
    t0 = time.perf_counter()
    receipt = svc.anchor("bench", [(i, d.hex()) for i, d in zip(ids, digests, strict=True)], {})
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert svc.verify("bench", ids[len(ids) // 2], digests[len(ids) // 2].hex()).ok
    return {
        "anchor_total_s": round(total, 2),
        "verify_end_to_end_ms": round((time.perf_counter() - t0) * 1000, 2),
        "transactions": StoreJournal(store).count() - before,
        "block": receipt.block_number,
    }


if __name__ == "__main__":
    main()
