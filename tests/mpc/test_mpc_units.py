"""In-process checks of the MPC building blocks with real cryptography (no party processes)."""

from __future__ import annotations

import functools
import time

import numpy as np
import pyarrow as pa
import pytest

from govfabric.errors import MPCError, SignatureInvalid, ValidationFailed
from govfabric.mpc import compute, he
from govfabric.mpc.envelope import Directory, NonceStore, PartyInfo, check, receive, seal
from govfabric.mpc.psi import PSIClient, PSIServer
from govfabric.mpc.signing import KeyPair, canonical, digest, verify
from govfabric.mpc.spec import TaskSpec


@pytest.mark.parametrize("alg", ["ed25519", "sm2"])
def test_signatures_verify_and_detect_tampering(alg: str) -> None:
    key = KeyPair.generate(alg)
    sig = key.sign(b"task")
    verify(alg, key.public_hex, b"task", sig)
    with pytest.raises(SignatureInvalid):
        verify(alg, key.public_hex, b"tasK", sig)
    with pytest.raises(SignatureInvalid):
        verify(alg, KeyPair.generate(alg).public_hex, b"task", sig)
    assert digest(b"x", "sm3").startswith("sm3:")


@pytest.mark.parametrize("alg", ["ed25519", "sm2"])
def test_envelope_replay_skew_and_impersonation_refused(tmp_path, alg: str) -> None:
    a, b = KeyPair.generate(alg), KeyPair.generate(alg)
    directory = Directory(
        {
            "a": PartyInfo("a", "requester", "http://x", alg, a.public_hex),
            "b": PartyInfo("b", "provider", "http://y", alg, b.public_hex),
        }
    )
    nonces = NonceStore(tmp_path / "n.txt")
    env = seal({"x": 1}, "task", "a", a)
    assert receive(env, directory, nonces, "task") == {"x": 1}
    with pytest.raises(SignatureInvalid, match="replayed"):
        receive(env, directory, nonces, "task")
    with pytest.raises(SignatureInvalid, match="replayed"):  # the nonce store survives a restart
        receive(env, directory, NonceStore(tmp_path / "n.txt"), "task")
    old = seal({"x": 1}, "task", "a", a)
    old["meta"]["ts"] = time.time() - 3600
    old["sig"] = a.sign(canonical({"body": old["body"], "meta": old["meta"]}))
    with pytest.raises(SignatureInvalid, match="timestamp"):
        receive(old, directory, nonces, "task")
    forged = seal({"x": 1}, "task", "b", b)
    forged["meta"]["from"] = "a"
    with pytest.raises(SignatureInvalid):
        check(forged, directory)
    tampered = seal({"x": 1}, "task", "a", a)
    tampered["body"]["x"] = 2
    with pytest.raises(SignatureInvalid):
        check(tampered, directory)


def _tables(seed: int = 3) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, party in enumerate(["p1", "p2", "p3"]):
        n = 3000 + 1500 * i  # p3 alone spans two ciphertexts per group-free stream
        out[party] = pa.table(
            {
                "k": [f"E{j}" for j in range(i * 1000, i * 1000 + n)],
                "g": rng.choice(["A", "B", "C"], n),
                "v": rng.lognormal(6, 1.3, n),
                "iv": rng.integers(-500, 5000, n),
            }
        )
    return out


@functools.cache
def _context(scheme: str, galois: bool) -> tuple:
    """(secret, public, evaluation) contexts; one key set per scheme keeps the module fast."""
    ctx = he.new_secret_context(scheme, galois)
    return (
        ctx,
        he.load_context(he.public_bytes(ctx, evaluation=False)),
        he.load_context(he.public_bytes(ctx, evaluation=True)),
    )


def _run(spec: TaskSpec, tables: dict[str, pa.Table]) -> dict:
    p = compute.plan(spec)
    ctx, public, evaluation = _context(p.scheme, p.galois)
    assert not public.has_galois_keys() and evaluation.has_galois_keys() == p.galois
    assert evaluation.is_public()
    inputs = {}
    for party, table in tables.items():
        blobs = compute.encrypt_streams(public, p.scheme, compute.encode(spec, party, table))
        assert not compute.check_shapes(spec, party, {k: [{"size": len(b)} for b in v] for k, v in blobs.items()})
        inputs[party] = blobs
    outputs = compute.evaluate(spec, evaluation, inputs)
    decrypted = {k: np.concatenate([he.decrypt(ctx, p.scheme, b) for b in v]) for k, v in outputs.items()}
    return compute.finalize(spec, decrypted)


def _close(got: dict, want: dict, exact: bool) -> None:
    assert len(got["rows"]) == len(want["rows"])
    for g, w in zip(got["rows"], want["rows"], strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float) and not exact:
                assert abs(g[key] - value) <= 1e-6 * abs(value), (key, g[key], value)
            else:
                assert g[key] == value, (key, g[key], value)


SRC = [{"party": p, "asset": "t"} for p in ("p1", "p2", "p3")]
GROUPS = {"groups": ["A", "B", "C"]}
CASES = [
    ({"value": "v"}, {"kind": "sum"}, False),
    ({"value": "v", "group": "g"}, {"kind": "mean", **GROUPS}, False),
    ({"value": "v", "group": "g"}, {"kind": "variance", "unit": 100.0, **GROUPS}, False),
    ({"value": "iv"}, {"kind": "variance", "dtype": "int"}, True),
    ({"value": "iv", "group": "g"}, {"kind": "sum", "dtype": "int", **GROUPS}, True),
    ({"group": "g"}, {"kind": "count", **GROUPS}, True),
    (
        {"value": "v", "group": "g"},
        {"kind": "histogram", "buckets": [0, 100, 400, 1000, 1e9], **GROUPS},
        True,
    ),
    ({"features": {"a": "v", "b": "iv"}}, {"kind": "weighted_sum", "weights": {"a": 0.25, "b": -1.5}}, False),
    ({"features": {"a": "iv"}}, {"kind": "weighted_sum", "dtype": "int", "weights": {"a": 3}}, True),
]


@pytest.mark.parametrize(
    ("source", "computation", "exact"),
    CASES,
    ids=[f"{c['kind']}-{c.get('dtype', 'real')}" for _, c, _ in CASES],
)
def test_computations_match_plaintext(source: dict, computation: dict, exact: bool) -> None:
    spec = TaskSpec(title="t", sources=[{**s, **source} for s in SRC], computation=computation)
    tables = _tables()
    _close(_run(spec, tables), compute.plaintext(spec, tables), exact)


def test_linear_scoring_across_vertically_split_features() -> None:
    entities = [f"E{j}" for j in range(0, 9000, 2)]  # 4500 entities: two ciphertexts per feature
    spec = TaskSpec(
        title="score",
        sources=[
            {"party": "p1", "asset": "t", "key": "k", "features": {"capital": "v"}},
            {"party": "p2", "asset": "t", "key": "k", "features": {"staff": "iv"}},
        ],
        computation={
            "kind": "linear_score",
            "weights": {"capital": 0.002, "staff": 0.01},
            "intercept": 1.5,
            "entities": entities,
        },
    )
    tables = {k: v for k, v in _tables().items() if k != "p3"}
    _close(_run(spec, tables), compute.plaintext(spec, tables), exact=False)


def test_bucketed_psi_matches_plain_intersection() -> None:
    a = [f"91110{i:013d}" for i in range(0, 3000)]
    b = [f"91110{i:013d}" for i in range(2000, 4500)]
    client = PSIClient(b, "salt", 4, workers=1)
    server = PSIServer(a, "salt", 4, workers=1)
    hits = client.hits(server.setups([len(p) for p in client.positions]), server.responses(client.requests()))
    assert hits.sum() == 1000 and all(hits[i] == (b[i] in set(a)) for i in range(len(b)))


def test_tampered_ciphertext_in_bundle_is_refused() -> None:
    key = KeyPair.generate()
    blob = b"\x01" * 60_000
    env = seal({"manifest": {"x/0": [{"digest": digest(blob), "size": len(blob)}]}}, "submission", "p", key)
    data = bytearray(he.Bundle(env, {"x/0": [blob]}).encode())
    assert he.Bundle.decode(bytes(data)).blobs["x/0"] == [blob]
    data[-100] ^= 1
    with pytest.raises(SignatureInvalid, match="altered"):
        he.Bundle.decode(bytes(data))
    with pytest.raises((MPCError, SignatureInvalid)):
        he.Bundle.decode(bytes(data[:-10]))
    with pytest.raises(MPCError, match="malformed"):
        he.Bundle.decode(b"\x00\x00\x00\x05garbage")


def test_invalid_specs_are_explained() -> None:
    with pytest.raises(ValidationFailed, match="at least two providers"):
        TaskSpec(title="t", sources=[{"party": "p1", "asset": "t", "value": "v"}], computation={"kind": "sum"})
    with pytest.raises(ValidationFailed, match="group keys"):
        TaskSpec(title="t", sources=[{**s, "value": "v", "group": "g"} for s in SRC], computation={"kind": "sum"})
    with pytest.raises(ValidationFailed, match="integer weights"):
        TaskSpec(
            title="t",
            sources=[{**s, "features": {"a": "v"}} for s in SRC],
            computation={"kind": "weighted_sum", "dtype": "int", "weights": {"a": 0.5}},
        )


@pytest.mark.parametrize("kind", ["psi_membership", "psi_cardinality", "psi_sum"])
def test_psi_results_through_encryption_are_exact(kind: str) -> None:
    tables = {k: v for k, v in _tables().items() if k != "p3"}
    spec = TaskSpec(
        title=kind,
        sources=[
            {"party": "p1", "asset": "t", "key": "k"},
            {"party": "p2", "asset": "t", "key": "k", **({"value": "iv"} if kind == "psi_sum" else {})},
        ],
        computation={"kind": kind, "dtype": "int", "entities": ["E1", "E1200", "E2999", "E4499", "nobody"]},
    )
    client_keys = [str(k) for k in tables["p2"].column("k").to_pylist()]
    client = PSIClient(client_keys, "salt", 2, workers=1)
    server = PSIServer([str(k) for k in tables["p1"].column("k").to_pylist()], "salt", 2, workers=1)
    hits = client.hits(server.setups(), server.responses(client.requests()))
    p = compute.plan(spec)
    ctx, public, evaluation = _context(p.scheme, p.galois)
    inputs = {
        party: compute.encrypt_streams(public, p.scheme, compute.encode(spec, party, t, hits))
        for party, t in tables.items()
    }
    assert inputs["p1"] == {}  # the PSI server sends nothing to the compute party
    outputs = compute.evaluate(spec, evaluation, inputs)
    got = compute.finalize(
        spec, {k: np.concatenate([he.decrypt(ctx, p.scheme, b) for b in v]) for k, v in outputs.items()}
    )
    assert got == compute.plaintext(spec, tables)
    if kind == "psi_membership":
        assert [r["member"] for r in got["rows"]] == [False, True, True, False, False]


def test_sm2_public_keys_starting_with_04_verify() -> None:
    """gmssl strips a leading "04" (and then every leading 0 and 4) from a public key it is given."""
    from gmssl import sm2

    n = int(sm2.default_ecc_table["n"], 16)
    found = 0
    for d in range(1, 20_000):
        pub = KeyPair("sm2", f"{d:064x}", "")
        public_hex = sm2.CryptSM2(private_key=pub.private_hex, public_key="")._kg(d % n, sm2.default_ecc_table["g"])
        if public_hex.startswith("04"):
            key = KeyPair("sm2", pub.private_hex, public_hex)
            verify("sm2", public_hex, b"task", key.sign(b"task"))
            found += 1
            if found == 2:
                break
    assert found == 2
