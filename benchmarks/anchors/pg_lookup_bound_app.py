"""The bound of ``service_lookup.py``: the anchor's lookup plus only what issue 11 makes every
governed call do — check the caller's RFC 9421 signature (govfabric's ``httpsig.verify``: the
``http-message-signatures`` library, nonces shared by the host's workers in a file) and write one
hash-chained audit event (caller, service, parameter names, keyed hashes of the values, rows,
latency), in one autocommit statement whose chain hash PostgreSQL computes while it holds the head's
row lock — SHA-256 over the previous hash and the event's text, stored as hashed (``json``): the
cheapest chained write per call there is, one round trip. No grants, masks, row filters, plan
cache, query log, lineage, usage, metrics or rate limits.

A governed implementation can pass it only by writing the audit events of concurrent calls in
shared statements (govfabric's recorder does) while doing nothing else: read govfabric's ratio
against the anchor together with this one's. Run by uvicorn with ``ANCHOR_PG_URL``,
``BOUND_KEY_ID``, ``BOUND_SECRET`` and ``BOUND_NONCES`` (a file path) set; the tables are made by
:func:`prepare` before the server starts.

``BOUND_PARTS`` (default ``signature,audit``) serves one part alone — ``signature`` or ``audit`` —
so that the benchmark can say what each costs on its own, measured in the same run."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from psycopg_pool import ConnectionPool

from govfabric.auth import httpsig

DDL = (
    "CREATE TABLE IF NOT EXISTS bound_audit_head (id int PRIMARY KEY, seq bigint NOT NULL, hash bytea NOT NULL)",
    "INSERT INTO bound_audit_head VALUES (1, 0, '\\x00') ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS bound_audit (seq bigint PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL, "
    "action text NOT NULL, target text NOT NULL, details json NOT NULL, hash bytea NOT NULL)",
)
AUDIT = ("WITH h AS (UPDATE bound_audit_head SET seq = seq + 1, hash = sha256(hash || convert_to(%(event)s, 'UTF8')) "
         "WHERE id = 1 RETURNING seq, hash) "
         "INSERT INTO bound_audit SELECT seq, now(), %(actor)s, 'query_api.call', %(target)s, %(event)s::json, hash "
         "FROM h")
SELECT = "SELECT name, district, capital FROM enterprise WHERE uscc = %s"
PARTS = ("signature", "audit")


def parts(value: str | None) -> frozenset[str]:
    """The parts a ``BOUND_PARTS`` value names (unset: both); an unknown part is an error, not ignored."""
    named = frozenset(p.strip() for p in (value or ",".join(PARTS)).split(",") if p.strip())
    if not named or named - set(PARTS):
        raise ValueError(f"BOUND_PARTS names {sorted(named)}: give one or both of {', '.join(PARTS)}")
    return named


def prepare(url: str) -> None:
    """The audit tables, in the source database (run once, before the workers start)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in DDL:
            conn.execute(statement)


if "ANCHOR_PG_URL" in os.environ:
    pool = ConnectionPool(os.environ["ANCHOR_PG_URL"], min_size=4, max_size=16, open=True)
    KEY_ID, SECRET = os.environ["BOUND_KEY_ID"], os.environ["BOUND_SECRET"].encode()
    NONCES = httpsig.nonce_store(None, path=Path(os.environ["BOUND_NONCES"]))  # as a served govfabric without Redis
    AUDIT_KEY = hashlib.sha256(SECRET + b"audit").digest()
    SIGNED, AUDITED = (part in parts(os.environ.get("BOUND_PARTS")) for part in PARTS)
app = FastAPI()


@app.get("/api/v1/query/{service}")
def lookup(service: str, uscc: str, request: Request) -> dict[str, Any]:
    t0 = time.perf_counter()
    scope = request.scope
    url = f"http://{request.headers['host']}{scope['path']}?{scope['query_string'].decode('latin-1')}"
    try:
        if SIGNED:
            httpsig.verify(httpsig.RequestView("GET", url, request.headers), b"", key_id=KEY_ID, secret=SECRET,
                           alg="hmac-sha256", first_use=NONCES.first_use)
    except httpsig.SignatureRefused as exc:
        raise HTTPException(401, exc.code) from None
    with pool.connection() as conn:
        conn.autocommit = True
        rows = conn.execute(SELECT, (uscc,)).fetchall()
        if AUDITED:
            event = {"service": service, "status": "ok", "rows": len(rows), "params": ["uscc"],
                     "values": {"uscc": [hmac.new(AUDIT_KEY, uscc.encode(), hashlib.sha256).hexdigest()[:24]]},
                     "ms": round((time.perf_counter() - t0) * 1000, 2)}
            conn.execute(AUDIT, {"event": json.dumps(event), "actor": KEY_ID, "target": f"query_api:{service}"})
    return {"rows": [{"name": n, "district": d, "capital": float(c) if isinstance(c, Decimal) else c}
                     for n, d, c in rows], "next_page_token": None}
