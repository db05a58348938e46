"""Push: webhooks signed with the subscriber's secret, at least once.

A delivery is a range of change records (``from_seq``, ``to_seq``]; its id is the idempotency key,
the same on every retry. The body (the changes and their current values, read as the subscriber)
is signed with HMAC-SHA256 over ``"{timestamp}.{body}"``:

    X-Govfabric-Signature: v1=<hex>      X-Govfabric-Timestamp: <unix seconds>
    Idempotency-Key: <delivery id>       X-Govfabric-Delivery: <delivery id>

A failed attempt is retried after ``data_service_backoff_s × 2^(attempt-1)`` with ±50 % jitter;
after ``data_service_max_attempts`` the delivery is dead-lettered (``redeliver`` sends it again).
Targets are http(s) only; link-local, metadata, private and loopback addresses are refused unless
the workspace's settings allow them (checked when ordering and again before every attempt)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from govfabric.errors import ValidationFailed

if TYPE_CHECKING:
    from govfabric.config import Settings

SIGNATURE_HEADER = "X-Govfabric-Signature"
TIMESTAMP_HEADER = "X-Govfabric-Timestamp"
DELIVERY_HEADER = "X-Govfabric-Delivery"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: never a push target, whatever the settings (cloud instance metadata)
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
            ipaddress.ip_address("100.100.100.200")}
TIMEOUT_S = 10.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature a receiver recomputes with its webhook secret."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify(secret: str, headers: dict[str, str], body: bytes, *, max_age_s: int = 300) -> bool:
    """What a receiver does (documented, and used by the tests): recompute, compare, check age."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(lower[TIMESTAMP_HEADER.lower()])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), lower.get(SIGNATURE_HEADER.lower(), ""))


def check_target(url: str, settings: Settings, *, resolve: bool = True) -> None:
    """Refuse a push URL that is not http(s) or points at a host the workspace may not reach."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationFailed(f"the push URL is malformed: {exc}; give http(s)://host[:port]/path") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("the push URL must be http:// or https:// with a host; e.g. https://example.org/hook")
    if parts.username or parts.password:
        raise ValidationFailed("the push URL may not carry credentials; the push is signed with the webhook secret")
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError:
        raise ValidationFailed(f"the push host {parts.hostname!r} does not resolve; check the URL") from None
    for info in infos:
        _check_address(ipaddress.ip_address(info[4][0]), parts.hostname, settings)


def _check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, settings: Settings) -> None:
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    if ip in METADATA or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise ValidationFailed(f"the push host {host!r} resolves to {ip}, which is never a push target")
    if ip.is_loopback:
        if settings.data_service_allow_loopback or settings.data_service_allow_private_targets:
            return
        raise ValidationFailed(f"the push host {host!r} is a loopback address ({ip}); set "
                               "data_service_allow_loopback to allow it")
    if ip.is_link_local or ip.is_private:
        if settings.data_service_allow_private_targets:
            return
        raise ValidationFailed(f"the push host {host!r} is a private or link-local address ({ip}); set "
                               "data_service_allow_private_targets to allow it")


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: exponential, with ±50 % jitter."""
    base = settings.data_service_backoff_s * 2 ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(0.5, 1.5))  # jitter, not a secret


def body(delivery_id: str, subscription_id: int, changes: list[dict[str, Any]], next_cursor: int) -> bytes:
    return json.dumps({"delivery": delivery_id, "subscription": subscription_id, "changes": changes,
                       "next_cursor": next_cursor}, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8")


def post(url: str, secret: str, delivery_id: str, payload: bytes) -> tuple[int | None, str | None]:
    """One attempt: (HTTP status, error). 2xx is success; redirects are not followed."""
    import httpx

    ts = int(time.time())
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, ts, payload),
               TIMESTAMP_HEADER: str(ts), DELIVERY_HEADER: delivery_id, IDEMPOTENCY_HEADER: delivery_id,
               "User-Agent": "govfabric-data-service"}
    try:
        r = httpx.post(url, content=payload, headers=headers, timeout=TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if 200 <= r.status_code < 300:
        return r.status_code, None
    return r.status_code, f"HTTP {r.status_code}"
