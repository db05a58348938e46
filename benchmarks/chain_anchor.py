"""Anchoring throughput (transactions/s) on the embedded chain and on a JSON-RPC node.

Each anchor is one transaction carrying one Merkle root. Measured per chain:
anchors through the chain seam (build, estimate gas, sign, send, wait for the
receipt; on the embedded chain also journaling), and full ``ChainService.anchor``
calls with a 100-record batch (plus the local rows). The anchor measured in the same
run is a plain ether transfer signed and sent the same way — the chain's floor.
On the embedded chain it also measures the journal replay a restart costs.

    python benchmarks/chain_anchor.py [--tx 100] [--rpc-url http://127.0.0.1:8545]

The JSON-RPC part runs when --rpc-url or GOVFABRIC_TEST_RPC_URL is set (a dev node
such as Anvil: the operator is funded with anvil_setBalance / hardhat_setBalance).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from govfabric.blockchain.service import ChainService
from govfabric.store import Store

RESULTS = Path(os.environ.get("GOVFABRIC_BENCH_RESULTS") or Path(__file__).parent / "results")  # see common.RESULTS


def make_service(url: str | None) -> ChainService:
    home = Path(tempfile.mkdtemp(prefix="chain-anchor-bench-"))
    store = Store(f"sqlite:///{home / 'store.db'}")
    store.migrate()
    svc = ChainService(store, SimpleNamespace(home=home, chain_url=url))
    if url:
        provider = svc.chain._w3.provider  # type: ignore[attr-defined]
        for method in ("anvil_setBalance", "hardhat_setBalance"):
            if "error" not in provider.make_request(method, [svc.operator.address, hex(10**22)]):
                break
    svc.ensure_ready()
    return svc


def rate(n: int, fn: Any) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def bench(name: str, url: str | None, n: int) -> dict[str, Any]:
    svc = make_service(url)
    chain, op = svc.chain, svc.operator
    sink = chain._w3.to_checksum_address("0x" + "5a" * 20)  # type: ignore[attr-defined]  # not a precompile
    transfer = rate(n, lambda i: chain._submit(op, lambda: None, "transfer", {"to": sink, "value": 1}))  # type: ignore[attr-defined]
    seam = rate(n, lambda i: chain.anchor(op, os.urandom(32), os.urandom(32), "bench", 1))
    batch = [(f"r{k}", hashlib.sha256(str(k).encode()).hexdigest()) for k in range(100)]
    service = rate(max(n // 2, 1), lambda i: svc.anchor("bench", [(f"{i}/{a}", d) for a, d in batch], {}))
    out: dict[str, Any] = {
        "chain": chain.description,
        "transactions": n,
        "anchor_transfer_tx_per_s": round(transfer, 1),
        "anchor_tx_per_s": round(seam, 1),
        "service_anchor_100_records_per_s": round(service, 1),
        "anchor_vs_transfer": round(seam / transfer, 2),
    }
    if not chain.KEEPS_OWN_STATE:
        from govfabric.blockchain.chains.embedded import EmbeddedChain

        height = chain.height  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        reopened = EmbeddedChain(chain._book, chain._journal)  # type: ignore[attr-defined]
        replay = time.perf_counter() - t0
        assert reopened.height == height
        out["restart_replay_s"] = round(replay, 2)
        out["restart_replay_tx_per_s"] = round(height / replay, 1)
    print(
        f"{name}: anchors {seam:.1f} tx/s, service anchors (100 records) {service:.1f}/s; "
        f"anchor: plain transfers {transfer:.1f} tx/s (ratio {seam / transfer:.2f})"
        + (f"; restart replays {out['restart_replay_tx_per_s']} tx/s" if "restart_replay_s" in out else "")
    )
    svc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tx", type=int, default=100)
    ap.add_argument("--rpc-url", default=os.environ.get("GOVFABRIC_TEST_RPC_URL"))
    args = ap.parse_args()
    result = {"embedded": bench("embedded", None, args.tx)}
    if args.rpc_url:
        result["jsonrpc"] = bench("json-rpc", args.rpc_url, args.tx)
    else:
        print("json-rpc: skipped (no --rpc-url / GOVFABRIC_TEST_RPC_URL)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chain_anchor.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
