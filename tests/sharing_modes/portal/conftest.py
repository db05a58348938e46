"""The portal's world: the demo workspace with a virtual table over the enterprise register (an
open-on-request asset), passwords for the analyst and the steward, and the real server app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from portal_helpers import ASSET, ENTERPRISE, PASSWORD, TABLE

from govfabric.auth import passwords


@pytest.fixture
def portal_world(demo) -> Any:
    demo.virtual.create_table(TABLE, ASSET, **ENTERPRISE)
    demo.access.set_mask(TABLE, "legal_rep_id", "partial", {"first": 4, "last": 2})
    admin = demo.as_user("admin") if "admin" in {p.name for p in demo.principals()} else None
    admin = admin or next(demo.as_user(p.name) for p in demo.principals() if "admin" in p.roles)
    for name in ("analyst1", "steward_mr", "auditor1"):
        passwords.set_password(admin, name, PASSWORD)
    demo.admin = admin
    return demo


@pytest.fixture
def client(portal_world) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from govfabric.server.app import create_app

    with TestClient(create_app(portal_world.admin), follow_redirects=False) as c:
        c.world = portal_world
        yield c


# -- the real browser (Debian chromium driven by pip playwright; FACTS.md "Real browser") ----------

SCREENSHOTS = "test-results/portal"


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium; every test that opens a browser (``browser``, ``page``) skips without it."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium: bash scripts/services/chromium-install.sh")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox", "--disable-gpu"]}


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open a page in a fresh browser context (its own cookies: one user each); a failed test keeps
    a screenshot of every page opened so (``pytest_runtest_makereport`` below)."""
    contexts: list[Any] = []

    def open_page(**context: Any) -> Any:
        contexts.append(browser.new_context(**context))
        page = contexts[-1].new_page()
        request.node.portal_pages = [*getattr(request.node, "portal_pages", []), page]
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def live_portal(portal_world) -> Iterator[str]:
    """The real server app under uvicorn on a free port, in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    from govfabric.server.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no window for another socket to take the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(portal_world.admin), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the portal server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keep a screenshot of every open page of a failed browser test (test-results/portal/)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        from pathlib import Path

        pages = [v for k, v in getattr(item, "funcargs", {}).items() if k.endswith("page") and hasattr(v, "screenshot")]
        for extra in getattr(item, "portal_pages", []):
            pages.append(extra)
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            try:
                page.screenshot(path=f"{SCREENSHOTS}/{item.name}-{i}.png", full_page=True)
            except Exception:  # a closed page: nothing to keep
                pass


@pytest.fixture
def walk_share() -> Any:
    """Take the enterprise register's draft share through submit → review → publish."""

    def walk(world: Any, name: str = "market.enterprise") -> None:
        world.shares.submit(name, "ready for review")
        world.as_user("reviewer1").shares.review(name, "checked the classification")
        world.shares.publish(name, "go live")

    return walk
