"""MPC envelopes and reports over RFC 8785 (``canon: jcs``), and those signed before it still verify."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from govfabric.canonical import canonical, legacy, loads
from govfabric.errors import IntegrityError, SignatureInvalid
from govfabric.mpc import report
from govfabric.mpc.envelope import Directory, PartyInfo, check, envelope_digest, seal
from govfabric.mpc.signing import KeyPair, digest

BODY = {"ratio": 1.0, "big": 1e16, "\ufb33": "dalet", "\U0001f600": "grin", "名字": "刘䶮"}


def _world() -> tuple[KeyPair, Directory]:
    key = KeyPair.generate("ed25519")
    return key, Directory({"sched": PartyInfo("sched", "scheduler", "http://x", key.alg, key.public_hex)})


def _old_seal(body: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    """An envelope as govfabric sealed it before RFC 8785: no canon marker, the old form signed."""
    meta = {"kind": "t", "from": "sched", "alg": key.alg, "nonce": "n", "ts": round(time.time(), 6)}
    return {"body": body, "meta": meta, "sig": key.sign(legacy({"body": body, "meta": meta}))}


def test_envelopes_are_jcs_and_old_ones_still_verify() -> None:
    key, directory = _world()
    new = seal(BODY, "t", "sched", key)
    assert new["meta"]["canon"] == "jcs"
    check(json.loads(json.dumps(new)), directory)  # survives the wire
    assert envelope_digest(new) == digest(canonical(new))
    old = _old_seal(BODY, key)
    check(old, directory)
    assert envelope_digest(old) == digest(legacy(old)) != digest(canonical(old))


def test_the_canon_marker_is_signed() -> None:
    key, directory = _world()
    stripped = seal(BODY, "t", "sched", key)
    del stripped["meta"]["canon"]
    with pytest.raises(SignatureInvalid):
        check(stripped, directory)
    claimed = _old_seal(BODY, key)
    claimed["meta"]["canon"] = "jcs"
    with pytest.raises(SignatureInvalid):
        check(claimed, directory)


def _report(key: KeyPair, directory: Directory, canon: str | None) -> bytes:
    body: dict[str, Any] = {"format": report.FORMAT, "task_id": "t1", "status": "done", "issuer": "sched",
                            "issued_at": 1700000000.0, "task_digest": "sha256:00", "directory": directory.to_dict(),
                            "steps": [], "extra": BODY}
    form = legacy
    if canon is not None:
        body["canon"], form = canon, canonical
    sig = {"by": "sched", "alg": key.alg, "public_key": key.public_hex, "sig": key.sign(form(body))}
    return form({"report": body, "signature": sig})


@pytest.mark.parametrize("canon", ["jcs", None])
def test_reports_verify_in_the_form_they_say(canon: str | None) -> None:
    """Both forms pass the byte and signature checks (and then stop at the missing steps); the same
    report re-serialised in the other form, or with its marker flipped, is refused as altered."""
    key, directory = _world()
    data = _report(key, directory, canon)
    with pytest.raises(IntegrityError, match="lacks step"):
        report.verify(data)
    doc = loads(data)
    other = legacy(doc) if canon else canonical(doc)
    with pytest.raises(IntegrityError, match="signed canonical form"):
        report.verify(other)
    if canon:
        del doc["report"]["canon"]
    else:
        doc["report"]["canon"] = "jcs"
    with pytest.raises((IntegrityError, SignatureInvalid)):
        report.verify((legacy if canon else canonical)(doc))
