"""Dataset files through the service and the router: masks of the consumer's grant in the file,
links (good, expired, tampered, another consumer's, revoked grant), Range, digests, ownership."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import parse_qs, urlencode, urlsplit

import pyarrow.parquet as pq
import pytest
from conftest import MASKED

from govfabric.errors import AccessDenied
from govfabric.sharing_modes.files.router import router


def test_file_has_the_consumers_masks_and_its_digest(consumer) -> None:
    f = consumer.datasets.materialise("market.enterprise", "parquet")
    data = open(f.path, "rb").read()
    assert hashlib.sha256(data).hexdigest() == f.sha256 and hashlib.new("sm3", data).hexdigest() == f.sm3
    ids = pq.read_table(io.BytesIO(data)).column(MASKED).to_pylist()
    assert ids and all("********" in i for i in ids if i)
    assert consumer.datasets.materialise("market.enterprise", "parquet").id == f.id  # cached


def test_non_steward_cannot_publish_and_ungranted_analyst_is_refused(offered, router_client) -> None:
    analyst = offered.as_user("analyst1")
    with pytest.raises(AccessDenied):
        analyst.datasets.publish("market.enterprise", ["csv"])
    c = router_client(offered, router, "analyst1")
    assert c.get("/api/v1/datasets/market.enterprise/preview").status_code == 403
    assert c.post("/api/v1/datasets/market.enterprise/links", json={"format": "csv"}).status_code == 403


def test_links_and_range(consumer, offered, router_client) -> None:
    c = router_client(offered, router, "analyst1")
    assert c.get("/api/v1/datasets/market.enterprise/preview?rows=2").json()["rows"][0]
    r = c.post("/api/v1/datasets/market.enterprise/links", json={"format": "csv", "expires": "1h"})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    got = c.get(url)
    assert got.status_code == 200 and "filename*=UTF-8''" in got.headers["content-disposition"]
    assert got.headers["repr-digest"].startswith("sha-256=:")
    part = c.get(url, headers={"Range": "bytes=10-29"})
    assert part.status_code == 206 and part.content == got.content[10:30]
    assert part.headers["content-range"] == f"bytes 10-29/{len(got.content)}"
    assert c.head(url).status_code == 200
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    path = urlsplit(url).path
    tampered = dict(q, sig=("0" if q["sig"][0] != "0" else "1") + q["sig"][1:])
    assert c.get(f"{path}?{urlencode(tampered)}").status_code == 401
    assert c.get(f"{path}?{urlencode(dict(q, consumer='auditor1'))}").status_code == 401
    assert c.get(f"{path}?{urlencode(dict(q, expires=int(q['expires']) + 1))}").status_code == 401
    expired = consumer.datasets.link("market.enterprise", "csv", "1s")
    import time

    time.sleep(2.1)
    assert c.get(expired.url).status_code == 401
    offered.access.revoke(consumer.grant_id)
    assert c.get(url).status_code == 403


def test_exports_have_their_own_row_limit(consumer) -> None:
    """A download is an export: ``export_row_limit`` bounds it, not the interactive ``query_row_limit``
    (which still refuses the same rows as a query)."""
    from govfabric.errors import QueryRejected
    from govfabric.fabric import Fabric

    n = consumer.sql("SELECT count(*) AS n FROM market.enterprise").column(0)[0].as_py()
    assert n > 3
    small = Fabric(consumer.settings.model_copy(update={"query_row_limit": 3}), "analyst1", consumer.store)
    with pytest.raises(QueryRejected, match="row limit"):
        small.sql("SELECT * FROM market.enterprise")
    assert small.datasets.materialise("market.enterprise", "csv").rows == n
    tight = Fabric(consumer.settings.model_copy(update={"export_row_limit": 3}), "analyst1", consumer.store)
    with pytest.raises(QueryRejected, match="more than 3 rows"):
        tight.datasets.materialise("market.enterprise", "parquet")
