"""``httpsig.verify`` on its own: each refusal reason of a signature that verifies cryptographically but
covers too little, or whose Content-Digest is wrong (the coverage and body checks are ours, in the
library's order: signature, coverage, body)."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence

import httpx
import pytest

from govfabric.auth import httpsig

KEY, SECRET = "app_k1", b"s" * 32
URL = "http://testserver/api/v1/query/ent_lookup?uscc=1"


def _signed(method: str, components: Sequence[str], body: bytes = b"", sent: bytes | None = None
            ) -> tuple[httpx.Request, bytes]:
    """A request signed over ``components`` (``content-digest`` of ``body`` when it is covered), then sent
    with ``sent`` as its body."""
    request = httpx.Request(method, URL, content=body or None)
    signer = httpsig.HTTPMessageSigner(signature_algorithm=httpsig.HMAC_SHA256,
                                       key_resolver=httpsig._OneKey(KEY, SECRET))
    signer.sign(request, key_id=KEY, nonce=secrets.token_urlsafe(12), covered_component_ids=tuple(components),
                body=body if "content-digest" in components else None)
    return request, body if sent is None else sent


def _verify(request: httpx.Request, body: bytes) -> None:
    httpsig.verify(request, body, key_id=KEY, secret=SECRET, alg="hmac-sha256",
                   first_use=httpsig.NonceStore(60).first_use)


def _refusal(request: httpx.Request, body: bytes) -> str:
    with pytest.raises(httpsig.SignatureRefused) as caught:
        _verify(request, body)
    return caught.value.code


def test_good_signatures_verify() -> None:
    _verify(*_signed("GET", ["@method", "@target-uri"]))
    _verify(*_signed("POST", ["@method", "@target-uri", "content-digest"], b'{"a":1}'))
    _verify(*_signed("GET", ["@target-uri", "@authority", "@method"]))  # more than required, any order


@pytest.mark.parametrize("components", [["@target-uri"], ["@method"], ["@method", "@authority"],
                                        ["@method", "@path", "@query"]])
def test_a_signature_missing_a_required_component_is_incomplete(components: list[str]) -> None:
    assert _refusal(*_signed("GET", components)) == "signature_incomplete"


def test_a_body_needs_a_covered_digest() -> None:
    assert _refusal(*_signed("POST", ["@method", "@target-uri"], b'{"a":1}')) == "signature_incomplete"
    covered, _ = _signed("POST", ["@method", "@target-uri", "content-digest"], b'{"a":1}')
    for method, body in (("POST", b'{"a":1}'), ("GET", b"")):  # a digest sent, but not covered: still incomplete
        request, sent = _signed(method, ["@method", "@target-uri"], body)
        request.headers["content-digest"] = covered.headers["content-digest"]
        assert _refusal(request, sent) == "signature_incomplete", method

def test_a_wrong_digest_is_a_mismatch() -> None:
    assert _refusal(*_signed("POST", ["@method", "@target-uri", "content-digest"], b'{"a":1}', b'{"a":2}')) \
        == "digest_mismatch"
    # no body, but a covered Content-Digest (of another body): checked against the empty body
    assert _refusal(*_signed("POST", ["@method", "@target-uri", "content-digest"], b'{"a":1}', b"")) \
        == "digest_mismatch"


def test_coverage_is_checked_before_the_body() -> None:
    """The library's order: a signature covering too little is incomplete even when its digest is wrong too."""
    assert _refusal(*_signed("POST", ["@target-uri", "content-digest"], b'{"a":1}', b'{"a":2}')) \
        == "signature_incomplete"


def test_a_forged_or_replayed_signature() -> None:
    request, body = _signed("GET", ["@method", "@target-uri"])
    request.headers["signature"] = request.headers["signature"][:-6] + "AAAA:"
    assert _refusal(request, body) == "signature_invalid"
    request, body = _signed("GET", ["@method", "@target-uri"])
    seen = httpsig.NonceStore(60)
    httpsig.verify(request, body, key_id=KEY, secret=SECRET, alg="hmac-sha256", first_use=seen.first_use)
    with pytest.raises(httpsig.SignatureRefused) as caught:
        httpsig.verify(request, body, key_id=KEY, secret=SECRET, alg="hmac-sha256", first_use=seen.first_use)
    assert caught.value.code == "nonce_replayed"


@pytest.mark.parametrize(("ahead_s", "code"), [(3, None), (20, None), (29, None), (45, "clock_skew")])
def test_a_signature_dated_ahead_within_the_clock_skew_verifies(ahead_s: int, code: str | None) -> None:
    """The workspace's clock skew (30 s by default) is the one allowed, not the library's own 5 s."""
    request = httpx.Request("GET", URL)
    created = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=ahead_s)
    httpsig.sign(request, key_id=KEY, secret=SECRET, created=created)
    if code is None:
        _verify(request, b"")
    else:
        assert _refusal(request, b"") == code


def test_a_nonce_file_is_shared_by_the_processes_of_a_host(tmp_path) -> None:
    """``FileNonceStore``: a nonce used by one process is refused by another (a real second process),
    and usable again once the signature's lifetime has passed."""
    import subprocess
    import sys
    import time

    path = tmp_path / "server" / "nonces.sqlite"
    here = httpsig.FileNonceStore(path, 0.5)
    assert here.first_use("app:n1")
    code = ("import sys\nfrom pathlib import Path\nfrom govfabric.auth.httpsig import FileNonceStore\n"
            "s = FileNonceStore(Path(sys.argv[1]), 0.5)\nprint(s.first_use('app:n1'), s.first_use('app:n2'))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr
    assert not here.first_use("app:n2")
    time.sleep(0.6)
    assert here.first_use("app:n1")  # expired: a signature this old is refused before its nonce is looked at
    assert path.stat().st_mode & 0o077 == 0
