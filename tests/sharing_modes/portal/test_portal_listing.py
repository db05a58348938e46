"""The portal's listing is kept between requests (``govfabric/catalog/memo.py``): it must follow
the store at once — an asset that stops being open leaves the page, its facet values and the
search at the next request, and comes back when it opens again, whichever code path wrote."""

from __future__ import annotations

from typing import Any

from portal_helpers import ASSET
from sqlalchemy import text

DEPARTMENT = "缓存测试局"


def _shown(client: Any, asset_id: str) -> dict[str, bool]:
    home = client.get("/portal").text
    return {"listed": f"/portal/asset/{asset_id}" in home, "facet": DEPARTMENT in home,
            "filtered": f"/portal/asset/{asset_id}" in client.get("/portal", params={
                "owner_department": DEPARTMENT}).text,
            "search": f"/portal/asset/{asset_id}" in client.get("/portal/search", params={"q": "t_qy_jbxx"}).text}


def test_listing_follows_an_asset_closing_and_opening(client: Any) -> None:
    world = client.world
    asset = world.catalog.asset(ASSET)
    with world.store.session() as s:  # plain SQL, as another process or tool would write
        s.execute(text("UPDATE catalog_assets SET owner_department = :d, open_class = 'open' WHERE id = :i"),
                  {"d": DEPARTMENT, "i": asset.id})
    assert _shown(client, asset.id) == dict.fromkeys(("listed", "facet", "filtered", "search"), True)
    assert _shown(client, asset.id)["listed"]  # served from what was kept

    world.admin.catalog.classify(ASSET, open_class="not_open")
    assert _shown(client, asset.id) == dict.fromkeys(("listed", "facet", "filtered", "search"), False)
    assert client.get(f"/portal/asset/{asset.id}").status_code == 404

    with world.store.session() as s:
        s.execute(text("UPDATE catalog_assets SET open_class = 'conditional_open' WHERE id = :i"), {"i": asset.id})
    assert _shown(client, asset.id) == dict.fromkeys(("listed", "facet", "filtered", "search"), True)

    with world.store.session() as s:  # dropped by a harvest: no longer active
        s.execute(text("UPDATE catalog_assets SET status = 'dropped' WHERE id = :i"), {"i": asset.id})
    assert not any(_shown(client, asset.id).values())
