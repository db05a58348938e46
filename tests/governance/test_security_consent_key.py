"""The consent subject key comes from the SecretBox, and stored subject hashes keep matching."""

from __future__ import annotations

import ast
import hashlib
import hmac
from pathlib import Path

from test_security_detect import ids

import govfabric.governance.security.consent as consent_module
from govfabric.governance.security.service import SecurityService

SUBJECT = ids(1, seed=3)[0]


def test_consent_never_reads_the_key_file() -> None:
    tree = ast.parse(Path(consent_module.__file__).read_text(encoding="utf-8"))
    touched = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not touched & {"key_file", "_key", "read_bytes"}, touched & {"key_file", "_key", "read_bytes"}


def test_subject_hashes_stay_what_they_were(steward) -> None:
    """The hash a store already holds: HMAC-SHA256 under HMAC(workspace key, the v1 label)."""
    c = SecurityService(steward).consent
    c.give(SUBJECT, "prefill", ["name"], "portal")
    raw = steward.secrets.key_file.read_bytes().strip()
    key = hmac.new(raw, consent_module._KEY_LABEL, hashlib.sha256).digest()
    stored = hmac.new(key, SUBJECT.encode(), hashlib.sha256).hexdigest()
    assert c.subject_hash(SUBJECT) == stored
    assert c.check(SUBJECT, "prefill", "name", "portal").allowed
