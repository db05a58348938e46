"""The anchor of ``service_lookup.py``: the same point lookup with no governance — a minimal
FastAPI endpoint over a psycopg connection pool, as a team would write it by hand.
Run by uvicorn with ``ANCHOR_PG_URL`` set."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

pool = ConnectionPool(os.environ["ANCHOR_PG_URL"], min_size=4, max_size=16, open=True)
app = FastAPI()


@app.get("/lookup")
def lookup(uscc: str) -> dict[str, Any]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT name, district, capital FROM enterprise WHERE uscc = %s", (uscc,)).fetchall()
    return {"rows": [{"name": n, "district": d, "capital": float(c) if isinstance(c, Decimal) else c}
                     for n, d, c in rows], "next_page_token": None}
