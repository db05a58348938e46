"""Start a set of party services as separate local processes (tests, demo, benchmarks).

In production each party runs ``govfabric mpc serve`` on its own host; here every party
gets its own state directory and port on loopback, and the directory file (party → URL,
public key) is written once all identities exist.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from govfabric.errors import MPCError
from govfabric.mpc.client import PartyHandle


@dataclass
class Member:
    id: str
    role: str
    data: str | None = None
    alg: str = "ed25519"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_socket(port: int = 0) -> socket.socket:
    """A bound, listening loopback socket to hand to a party process.

    Binding here and passing the descriptor closes the race a "free port" number has: between
    picking the number and the child binding it, any outgoing connection (our own readiness
    polls included) may take it as its ephemeral port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Cluster:
    def __init__(self, root: Path, members: list[Member]) -> None:
        self.root = Path(root)
        self.members = {m.id: m for m in members}
        self.directory_path = self.root / "directory.json"
        self.url_overrides: dict[str, str] = {}

    def state(self, pid: str) -> Path:
        return self.root / pid

    def url(self, pid: str) -> str:
        return f"http://127.0.0.1:{self.members[pid].port}"

    def handle(self, pid: str) -> PartyHandle:
        return PartyHandle(self.url(pid), self.state(pid))

    def start_member(self, pid: str) -> None:
        m = self.members[pid]
        sock = listening_socket(m.port)  # a restart keeps its port: the directory names it
        m.port = int(sock.getsockname()[1])
        state = self.state(pid)
        state.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "govfabric.mpc.serve",
            "--role",
            m.role,
            "--port",
            str(m.port),
            "--fd",
            str(sock.fileno()),
            "--state",
            str(state),
            "--directory",
            str(self.directory_path),
            "--id",
            pid,
            "--alg",
            m.alg,
        ]
        if m.data:
            cmd += ["--data", m.data]
        log = (state / "service.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            m.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                      pass_fds=(sock.fileno(),))
        finally:
            sock.close()  # the child holds it now; once the child dies, connections are refused again
            log.close()

    def wait_ready(self, pid: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        m = self.members[pid]
        while time.monotonic() < deadline:
            if m.proc is not None and m.proc.poll() is not None:
                tail = (self.state(pid) / "service.log").read_text()[-2000:]
                raise MPCError(f"party {pid} exited with {m.proc.returncode}:\n{tail}")
            try:
                if httpx.get(self.url(pid) + "/identity", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise MPCError(f"party {pid} did not start within {timeout:.0f}s")

    def write_directory(self) -> None:
        parties = {}
        for pid, m in self.members.items():
            ident = json.loads((self.state(pid) / "identity.json").read_text())
            parties[pid] = {
                "role": m.role,
                "url": self.url_overrides.get(pid, self.url(pid)),
                "alg": ident["alg"],
                "public_key": ident["public_key"],
            }
        tmp = self.directory_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"parties": parties}, indent=2))
        tmp.replace(self.directory_path)

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        for pid in self.members:
            self.start_member(pid)
        for pid in self.members:
            self.wait_ready(pid)
        self.write_directory()
        return self

    def kill(self, pid: str) -> None:
        """Hard-kill one party (SIGKILL), as a crash would."""
        m = self.members[pid]
        if m.proc is not None and m.proc.poll() is None:
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait(10)

    def restart(self, pid: str) -> None:
        self.kill(pid)
        self.start_member(pid)
        self.wait_ready(pid)

    def stop(self) -> None:
        for m in self.members.values():
            if m.proc is not None and m.proc.poll() is None:
                m.proc.terminate()
        for m in self.members.values():
            if m.proc is not None:
                try:
                    m.proc.wait(10)
                except subprocess.TimeoutExpired:
                    m.proc.kill()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def standard_cluster(root: Path, providers: dict[str, str | None], alg: str = "ed25519") -> Cluster:
    """requester, scheduler, compute, monitor, and one provider per ``name → data reader spec``."""
    members = [
        Member("requester", "requester", alg=alg),
        Member("scheduler", "scheduler", alg=alg),
        Member("compute", "compute", alg=alg),
        Member("monitor", "monitor", alg=alg),
    ]
    members += [Member(name, "provider", data=data, alg=alg) for name, data in providers.items()]
    return Cluster(root, members)
