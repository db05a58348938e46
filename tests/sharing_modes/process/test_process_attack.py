"""Attack probes on the sharing process (session 6): an offer's classes are fixed when it is created,
so the catalog reclassifying its data afterwards must still hold at every later step — publishing a
share whose data became 不予共享, granting `public` what became 不予开放, or granting at once what
became 有条件共享 would widen the share past the catalog."""

from __future__ import annotations

import pytest

from govfabric.auth.principals import PUBLIC
from govfabric.errors import ValidationFailed

LICENCE = "mr_db.main.t_yyzz"


def test_a_share_whose_data_became_not_shared_cannot_be_walked_or_requested(world, walk):
    world.shares.create("table", "market.licence")
    world.catalog.classify(LICENCE, sharing_class="不予共享")
    with pytest.raises(ValidationFailed, match="不予共享"):
        world.shares.submit("market.licence", "ready for review")
    assert world.shares.show("market.licence")["state"] == "draft"


def test_publishing_after_the_catalog_closed_the_data_grants_public_nothing(world, walk):
    world.shares.create("table", "market.licence")
    walk(world, "market.licence", to="reviewed")
    world.catalog.classify(LICENCE, open_class="不予开放")
    world.shares.publish("market.licence", "go live")
    assert not world.access.grants(grantee=PUBLIC)
    assert world.shares.show("market.licence")["open_class"] == "not_open"


def test_a_published_unconditional_share_reclassified_conditional_waits_for_approval(world, walk):
    world.shares.create("table", "market.licence")
    walk(world, "market.licence")
    world.catalog.classify(LICENCE, sharing_class="有条件共享")
    req = world.as_user("analyst1").shares.request("market.licence", "核验营业执照有效期")
    assert req.mode == "approval" and not req.grants
    assert not world.access.grants(grantee="analyst1")
