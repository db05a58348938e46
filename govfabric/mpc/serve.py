"""Run one party as an HTTP service: ``python -m govfabric.mpc.serve --role R --port P --state DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from govfabric.mpc.compute_party import ComputeParty
from govfabric.mpc.monitor import Monitor
from govfabric.mpc.party import Party, create_app
from govfabric.mpc.provider import Provider
from govfabric.mpc.requester import Requester
from govfabric.mpc.scheduler import Scheduler

PARTY_CLASSES: dict[str, type[Party]] = {
    "requester": Requester,
    "provider": Provider,
    "scheduler": Scheduler,
    "compute": ComputeParty,
    "monitor": Monitor,
}


def build_party(
    role: str,
    state: Path,
    directory: Path | None = None,
    party_id: str | None = None,
    alg: str = "ed25519",
    data: str | None = None,
) -> Party:
    from govfabric.errors import ConfigError

    if role not in PARTY_CLASSES:
        raise ConfigError(f"unknown role {role!r}; use one of {', '.join(PARTY_CLASSES)}")
    directory = directory or state / "directory.json"
    pid = party_id or role
    if role == "provider":
        from govfabric.mpc.data import make_reader

        return Provider(pid, state, directory, alg, reader=make_reader(data) if data else None)
    return PARTY_CLASSES[role](pid, state, directory, alg)


def serve(
    role: str,
    port: int,
    state: Path,
    *,
    host: str = "127.0.0.1",
    directory: Path | None = None,
    party_id: str | None = None,
    alg: str = "ed25519",
    data: str | None = None,
    fd: int | None = None,
) -> None:
    """``fd``: an already listening socket inherited from the parent (``mpc.cluster``) instead of
    binding ``host:port`` here."""
    import uvicorn

    party = build_party(role, state, directory, party_id, alg, data)
    if role in ("requester", "provider", "compute"):
        import tenseal  # noqa: F401  (load the HE library before the first task, not during it)
    if role == "provider":
        import private_set_intersection.python  # noqa: F401
    (party.state / "port").write_text(str(port))
    for line in startup_lines(party, role, host, port, data):
        print(line, file=sys.stderr, flush=True)
    config = uvicorn.Config(create_app(party), host=host, port=port, log_level="warning", access_log=False)
    if fd is None:
        uvicorn.Server(config).run()
    else:
        import socket

        uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


def startup_lines(party: Party, role: str, host: str, port: int, data: str | None) -> list[str]:
    """What ``mpc serve`` tells its operator: where the party listens, and what it still lacks."""
    shown = f"[{host}]" if ":" in host else host
    lines = [f"{role} {party.id!r} listening on http://{shown}:{port} (state {party.state}; Ctrl-C stops it)"]
    if not party.directory_path.exists():
        lines.append(f"missing: the directory {party.directory_path} (every party's URL and public key); "
                     "until it is written this party knows no peers — give --directory FILE")
    if role == "provider" and not data:
        lines.append("missing: --data (e.g. duckdb:/path/db.duckdb or fabric:HOME#user); this provider can "
                     "approve tasks but has no data to read")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--role", required=True, choices=sorted(PARTY_CLASSES))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--directory", type=Path)
    ap.add_argument("--id")
    ap.add_argument("--alg", default="ed25519", choices=["ed25519", "sm2"])
    ap.add_argument("--data")
    ap.add_argument("--fd", type=int, help="an inherited listening socket to serve on (instead of binding --port)")
    a = ap.parse_args()
    serve(a.role, a.port, a.state, host=a.host, directory=a.directory, party_id=a.id, alg=a.alg, data=a.data,
          fd=a.fd)


if __name__ == "__main__":
    main()
