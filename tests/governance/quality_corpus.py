"""Identifier corpus shared by the quality tests (DuckDB here, PostgreSQL and Trino in the engine tests)."""

from __future__ import annotations


def check_corpus(n: int = 400) -> list[str]:
    """Valid credit codes and resident IDs, and each with one character changed: the SQL checks must
    agree with :mod:`govfabric.identifiers` on every one (incl. organisation-code checks X and 0)."""
    import random
    from datetime import date

    from govfabric.identifiers import USCC_ALPHABET, generate_resident_id, generate_uscc

    rng = random.Random(11714)
    out: list[str] = []
    for i in range(n):
        code = generate_uscc(rng, ["110105", "310101", "440305"][i % 3])
        rid = generate_resident_id(rng, "110105", date(1950 + i % 60, 1 + i % 12, 1 + i % 28), "MF"[i % 2])
        for v, alphabet in ((code, USCC_ALPHABET), (rid, "0123456789X")):
            pos = rng.randrange(len(v))
            out += [v, v[:pos] + rng.choice(alphabet) + v[pos + 1:]]
    return out + ["", "X" * 18, "91110105MA01234567", "11010519491231002X", "1101051949123100", "９１"]
