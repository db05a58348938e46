"""Cross-module reactions go through one typed mechanism (``govfabric/hooks.py``): each
subscriber is listed once, every event type is emitted somewhere, and a subscriber's failure
undoes the whole change it reacts to."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from govfabric import hooks
from govfabric.errors import ValidationFailed
from govfabric.hooks import Event, GrantMade, GrantRevoked

ROOT = Path(hooks.__file__).parent


def _event_types() -> list[type[Event]]:
    return [t for t in vars(hooks).values() if isinstance(t, type) and issubclass(t, Event) and t is not Event]


def test_every_event_has_its_subscribers_registered_exactly_once() -> None:
    from govfabric.blockchain import hooks as chain
    from govfabric.governance.security import hooks as security
    from govfabric.sharing_modes.data_service import hooks as data_service

    listed = [(e, fn) for name in hooks.INTEGRATIONS for e, fn in importlib.import_module(name).SUBSCRIPTIONS]
    assert len(listed) == len(set(listed)), "a subscription is listed twice"
    assert {e for e, _ in listed} <= set(_event_types())
    expected = {
        hooks.GrantMade: [chain.record_grant],
        hooks.GrantRevoked: [chain.revoke_grant],
        hooks.TableCreated: [security.mask_new_table],
        hooks.TableRemapped: [security.mask_new_table],
        hooks.HarvestDone: [security.scan_after_harvest, data_service.mark_due],
    }
    assert {e: fns for e, fns in hooks.subscribers().items() if fns} == expected
    hooks.subscribers()  # loading again (every Fabric, every emit) adds nothing
    assert {e: fns for e, fns in hooks.subscribers().items() if fns} == expected


def test_every_event_type_is_emitted_and_no_global_hook_list_is_left() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py") if p.name != "hooks.py")
    for event in _event_types():
        assert f"{event.__name__}(" in source, f"{event.__name__} is never emitted"
    for old in ("GRANT_HOOKS", "REVOKE_HOOKS", "AFTER_CREATE_TABLE", "QUERY_HOOKS", "AFTER_HARVEST",
                "_load_integrations"):
        assert old not in source, f"{old} is back: use govfabric.hooks"


def test_a_failing_subscriber_rolls_the_grant_back(demo) -> None:
    demo.virtual.create_table("market.licence", "mr_db.main.t_yyzz", only=["qymc"])
    asset_id = demo.catalog.asset("mr_db.main.t_yyzz").id
    seen: list[GrantMade] = []

    def boom(event: GrantMade) -> None:
        seen.append(event)
        raise ValidationFailed("registry unavailable")

    with hooks.subscribed(GrantMade, boom), pytest.raises(ValidationFailed, match="registry unavailable"):
        demo.access.grant("analyst1", "market.licence", columns=["qymc"])
    assert len(seen) == 1 and seen[0].grant.grantee == "analyst1"
    assert demo.access.grants("market.licence") == []
    assert demo.audit.events(action="access.grant") == []
    assert not demo.chain.is_granted(str(seen[0].grant.id), asset_id, "analyst1")

    g = demo.access.grant("analyst1", "market.licence", columns=["qymc"])
    with hooks.subscribed(GrantRevoked, lambda e: (_ for _ in ()).throw(ValidationFailed("no"))):
        with pytest.raises(ValidationFailed):
            demo.access.revoke(g.id, "done")
    assert [x.id for x in demo.access.grants("market.licence")] == [g.id]
    assert demo.audit.events(action="access.revoke") == []
    assert demo.chain.is_granted(str(g.id), asset_id, "analyst1")


def test_as_user_shares_the_chain_but_acts_as_itself(demo) -> None:
    other = demo.as_user("admin")
    assert other.chain.chain is demo.chain.chain
    assert (demo.chain.actor, other.chain.actor) == (demo.user, "admin")
    assert other.as_user("analyst1").chain.chain is demo.chain.chain
