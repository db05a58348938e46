"""Routing end to end: three real ``govfabric serve`` processes provide ``ent_lookup`` over the same
(demo) workspace; the gateway (the real app, in process) routes ~300 signed calls from four threads;
one provider is killed mid-run. Fail-over hides the dead provider until its breaker opens, after which
it is not tried at all: no call fails after the breaker opens (and none should before, thanks to the
fail-over; the number is printed). A caller without the grant gets 403 from the gateway and the
providers are never called."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govfabric.auth import apps
from govfabric.client import Client
from govfabric.errors import AccessDenied, GovfabricError
from tests.infra.serving import BIND_RACE, InProcess, free_port

MR = "北京市市场监督管理局"
ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district", "fddbr_sfzh": "legal_rep_id"},
                  only=["tyshxydm", "qymc", "qx", "fddbr_sfzh"])
ROUTED = "/api/v1/routed/query/ent_lookup"


@dataclass
class World:
    admin: Any
    steward: Any
    caller: apps.Issued
    stranger: apps.Issued
    procs: list[subprocess.Popen[bytes]]
    urls: list[str]
    gateway: TestClient
    origin: Any
    logs: list[Path] = field(default_factory=list)

    def client(self, issued: apps.Issued) -> Client:
        return Client("http://testserver", issued.key_id, issued.secret, transport=InProcess(self.gateway))

    def events(self, action: str) -> list[Any]:
        return self.admin.audit.events(action=action, limit=100_000)


def _start(home: str, tmp: Path, n: int) -> tuple[list[subprocess.Popen[bytes]], list[str], list[Path]]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs, urls, logs = [], [], []

    def spawn(i: int) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        with logs[i].open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "govfabric.cli.main", "--home", home, "serve",
                                     "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
        return proc, f"http://127.0.0.1:{port}"

    for i in range(n):
        logs.append(tmp / f"provider{i}.log")
        proc, url = spawn(i)
        procs.append(proc)
        urls.append(url)
    deadline = time.monotonic() + 60
    for i in range(n):
        respawns = 0
        while True:
            try:
                if httpx.get(f"{urls[i]}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if procs[i].poll() is not None and BIND_RACE in logs[i].read_text() and respawns < 2:
                respawns += 1  # the picked port was taken before the server bound it: another one
                procs[i], urls[i] = spawn(i)
                continue
            assert procs[i].poll() is None, logs[i].read_text()
            assert time.monotonic() < deadline, "a provider did not come up"
            time.sleep(0.2)
    return procs, urls, logs


@pytest.fixture
def world(demo_home: Path, tmp_path: Path) -> Iterator[World]:
    from govfabric.fabric import Fabric, connect
    from govfabric.server.app import create_app

    admin = connect(demo_home)
    steward = admin.as_user("steward_mr")
    steward.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    steward.query_api.create("ent_lookup", "market.enterprise", params={"uscc": ["eq"]}, require_one_of=["uscc"],
                             columns=["uscc", "name", "legal_rep_id"], order=["uscc"])
    steward.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    caller = apps.add(admin, "gw_caller", department=MR)
    provider = apps.add(admin, "gw_provider", department=MR)
    stranger = apps.add(admin, "stranger_app", department=MR)
    steward.access.grant("gw_caller", "market.enterprise")
    steward.access.grant("gw_provider", "market.enterprise")
    procs, urls, logs = _start(str(demo_home), tmp_path, 3)
    gateway = None
    try:  # the servers stopped however the set-up below ends
        for url in urls:
            steward.routes.add_provider("ent_lookup", url, app_id=provider.key_id, secret=provider.secret)
        steward.routes.set_policy("ent_lookup", "round-robin", failures=2, window_s=10, cooldown_s=3)
        origin = Fabric(admin.settings.model_copy(update={"route_health_interval_s": 0.5, "route_timeout_s": 30.0}),
                        admin.user)
        gateway = TestClient(create_app(origin), base_url="http://testserver", raise_server_exceptions=False)
        gateway.__enter__()
        yield World(admin, steward, caller, stranger, procs, urls, gateway, origin, logs)
    finally:
        if gateway is not None:
            gateway.__exit__(None, None, None)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        admin.close()


def _breaker_state(world: World, url: str) -> str:
    """The gateway process's breaker of the provider at ``url``."""
    from sqlalchemy import select

    from govfabric.sharing_modes.routing.models import RouteProvider
    from govfabric.sharing_modes.routing.service import runtime_of

    with world.admin.store.session() as s:
        pid = s.scalar(select(RouteProvider.id).where(RouteProvider.url == url))
    found = runtime_of(world.origin.store).breakers.get(pid)
    return found.state if found is not None else "closed"


def test_kill_a_provider_under_load_no_call_fails_after_its_breaker_opens(world: World) -> None:
    _attacker_and_passthrough(world)  # first, on the same three providers (one setup: they are slow to start)
    keys = [r["uscc"] for r in world.steward.sql("SELECT uscc FROM market.enterprise ORDER BY uscc LIMIT 20")
            .to_pylist()]
    victim = world.urls[1]
    results: list[tuple[float, bool, str]] = []  # (started, ok, detail)
    lock = threading.Lock()
    done = threading.Event()
    opened_at: list[float] = []
    killed_at: list[float] = []
    calls_per_thread, threads = 75, 4

    def drive(n: int) -> None:
        with world.client(world.caller) as c:
            for i in range(calls_per_thread):
                key = keys[(n * calls_per_thread + i) % len(keys)]
                started = time.monotonic()
                try:
                    rows = c.get(ROUTED, params={"uscc": key})["rows"]
                    ok, detail = len(rows) == 1 and rows[0]["uscc"] == key, "rows"
                except GovfabricError as exc:
                    ok, detail = False, f"{getattr(exc, 'status', '?')} {exc}"
                with lock:
                    results.append((started, ok, detail))
                    if len(results) == 100 and not killed_at:
                        world.procs[1].kill()  # SIGKILL: connections refused/reset from now on
                        killed_at.append(time.monotonic())

    def watch() -> None:
        while not done.is_set():
            if killed_at and _breaker_state(world, victim) != "closed":
                opened_at.append(time.monotonic())
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    workers = [threading.Thread(target=drive, args=(n,)) for n in range(threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    done.set()
    watcher.join()
    elapsed = time.monotonic() - t0
    assert len(results) == calls_per_thread * threads
    assert killed_at and opened_at, "the dead provider's breaker never opened"
    before = [r for r in results if r[0] < opened_at[0] and not r[1]]
    after = [r for r in results if r[0] >= opened_at[0] and not r[1]]
    calls_after = sum(1 for r in results if r[0] >= opened_at[0])
    events = [e for e in world.events("routing.call") if e.actor == "gw_caller"][2:]  # after _attacker_and_passthrough
    dead_attempts = sum(1 for e in events for a in e.details["attempts"]
                        if a["outcome"] not in ("http_200", "skipped: breaker open"))
    print(f"\n{len(results)} routed calls in {elapsed:.1f}s; provider killed after 100; breaker opened "
          f"{opened_at[0] - killed_at[0]:.3f}s later; failed before it opened: {len(before)}, after: {len(after)} "
          f"(of {calls_after}); attempts on the dead provider that failed over: {dead_attempts}")
    from collections import Counter

    outcomes = Counter(a["outcome"] for e in events for a in e.details["attempts"])
    print(outcomes, [e.details for e in events if e.details["status"] != "200"][:3])
    assert after == [], (outcomes, after[:2], [log.read_text()[-3000:] for log in world.logs])
    assert len(before) == 0, before[:3]  # fail-over: a refused connection is retried on the next provider
    assert calls_after > 50  # the breaker opened early enough for the claim to mean something
    # a couple of failures open it (failures=2); after that only a half-open probe per cool-down (3 s) tries it
    assert 1 <= dead_attempts <= 2 * threads + elapsed / 3 + 2
    # every call is audited once: the provider chosen, the outcome, parameter names, never values
    assert len(events) == len(results)
    assert {e.details["provider"] for e in events} == set(world.urls)
    assert all(e.details["params"] == ["uscc"] and keys[0] not in str(e.details) for e in events)
    states = {p.url: p.state for p in world.origin.routes.providers("ent_lookup")}
    assert states[victim] != "closed" and states[world.urls[0]] == states[world.urls[2]] == "closed"


def _attacker_and_passthrough(world: World) -> None:
    """A caller without the grant gets 403 from the gateway and no provider is called; a granted
    caller's answer is the provider's (masked); a provider's 4xx is passed through, not retried."""
    key = world.steward.sql("SELECT uscc FROM market.enterprise ORDER BY uscc LIMIT 1").column(0)[0].as_py()
    served_before = len(world.events("query_api.call"))
    with world.client(world.stranger) as c, pytest.raises(AccessDenied) as denied:
        c.get(ROUTED, params={"uscc": key})
    assert denied.value.status == 403  # type: ignore[attr-defined]
    assert key not in str(denied.value)
    assert len(world.events("query_api.call")) == served_before  # no provider answered anything
    denied_event = [e for e in world.events("routing.call") if e.actor == "stranger_app"]
    assert len(denied_event) == 1 and denied_event[0].details["attempts"] == []
    assert denied_event[0].details["status"] == "AccessDenied" and denied_event[0].details["provider"] is None
    # the granted caller's answer comes from a provider, masked as the provider's app is
    with world.client(world.caller) as c:
        rows = c.get(ROUTED, params={"uscc": key})["rows"]
    assert len(rows) == 1 and rows[0]["uscc"] == key and "*" in (rows[0]["legal_rep_id"] or "*")
    # a provider's 4xx is passed through, not retried: a missing required parameter
    with world.client(world.caller) as c, pytest.raises(GovfabricError) as bad:
        c.get(ROUTED, params={"name": "x"})
    assert bad.value.status == 422  # type: ignore[attr-defined]
    last = [e for e in world.events("routing.call") if e.actor == "gw_caller"][-1]
    assert len(last.details["attempts"]) == 1 and last.details["attempts"][0]["outcome"] == "http_422"
