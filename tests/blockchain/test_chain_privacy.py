"""Nothing personal reaches the chain: not the values, not their unsalted digests."""

from __future__ import annotations

import hashlib

from govfabric.blockchain.books import StoreDeploymentBook
from govfabric.blockchain.hashing import HASHES
from govfabric.blockchain.service import ChainService

PEOPLE = [
    {"name": "张伟", "id": "110101199003074514", "phone": "13812345678"},
    {"name": "王芳", "id": "44030619851123002X", "phone": "15900001111"},
    {"name": "李娜", "id": "310104197712310426", "phone": "18688889999"},
]


def _needles() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for p in PEOPLE:
        for field, value in p.items():
            for enc in ("utf-8", "gb18030", "utf-16-le"):
                out[f"{field} {value} ({enc})"] = value.encode(enc)
            for algo in HASHES.values():  # an unsalted digest is as good as the value to a dictionary attack
                out[f"{algo.name}({field} {value})"] = algo.digest(value.encode())
    return out


def test_transactions_carry_no_personal_data(service: ChainService) -> None:
    rows = [(f"person/{p['id']}", hashlib.sha256("|".join(p.values()).encode()).hexdigest()) for p in PEOPLE]
    rows += [(p["phone"], hashlib.sha256(p["phone"].encode()).hexdigest()) for p in PEOPLE]
    rows += [(p["name"], HASHES["sm3"].digest(p["name"].encode()).hex()) for p in PEOPLE]
    service.anchor("asset", rows, {"subject": PEOPLE[0]["name"], "phone": PEOPLE[0]["phone"]})
    for i, p in enumerate(PEOPLE):
        service.record_grant(f"g{i}", "population", "public-security", p["name"], None)
        service.record_share(
            hashlib.sha256(p["id"].encode()).hexdigest(),
            "public-security",
            "civil-affairs",
            f"g{i}",
            "population",
        )
    assert service.verify("asset", f"person/{PEOPLE[1]['id']}", rows[1][1]).ok

    deployments = StoreDeploymentBook(service.store).load(service.chain.chain_key)
    first_block = min(d.block_number for d in deployments.values())  # this workspace's first transaction
    inputs = service.chain.transaction_inputs(from_block=first_block)
    assert len(inputs) >= 1 + 2 * len(PEOPLE)  # every anchor, grant and share transaction is scanned
    leaks = [label for label, needle in _needles().items() if any(needle in data for data in inputs)]
    assert leaks == []
    # the scan itself finds what is there: the department names are public and on chain
    assert any(b"public-security" in data for data in inputs)
