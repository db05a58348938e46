"""What every party service shares: its own keys and state directory, the directory of peers,
signed-message helpers, an HTTP client, and the FastAPI app skeleton.

A party keeps everything it knows under ``state/`` (keys, nonces, per-task files) and holds
no other party's secrets. Operator actions (``/admin/...``) need the token in
``state/admin.token``, which only someone with access to that directory can read.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from govfabric import errors
from govfabric.errors import AccessDenied, GovfabricError, MPCError
from govfabric.mpc.envelope import Directory, NonceStore, check, receive, seal
from govfabric.mpc.signing import KeyPair

ROLES = ("requester", "provider", "scheduler", "compute", "monitor")
HTTP_TIMEOUT_S = 900.0


class Party:
    role = ""

    def __init__(self, party_id: str, state: Path, directory_path: Path, alg: str = "ed25519") -> None:
        self.id, self.state, self.directory_path = party_id, Path(state), Path(directory_path)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "tasks").mkdir(exist_ok=True)
        self.key = KeyPair.load_or_create(self.state / "key.json", alg)
        token = self.state / "admin.token"
        if not token.exists():
            token.write_text(secrets.token_hex(24))
            token.chmod(0o600)
        self.admin_token = token.read_text().strip()
        identity = {"id": party_id, "role": self.role, "alg": self.key.alg, "public_key": self.key.public_hex}
        (self.state / "identity.json").write_text(json.dumps(identity, indent=2))
        self.nonces = NonceStore(self.state / "nonces.txt")
        self._dir: tuple[float, Directory] | None = None
        self.log = logging.getLogger(f"govfabric.mpc.{party_id}")
        if not self.log.handlers:
            handler = logging.FileHandler(self.state / "party.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            self.log.addHandler(handler)
            self.log.setLevel(logging.INFO)

    # ------------------------------------------------------------ identity and messages

    @property
    def directory(self) -> Directory:
        mtime = self.directory_path.stat().st_mtime if self.directory_path.exists() else -1.0
        if self._dir is None or self._dir[0] != mtime:
            self._dir = (mtime, Directory.load(self.directory_path))
        return self._dir[1]

    def seal(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return seal(body, kind, self.id, self.key)

    def receive(
        self, env: dict[str, Any], kind: str, sender: str | None = None, role: str | None = None
    ) -> dict[str, Any]:
        body = receive(env, self.directory, self.nonces, kind, sender)
        if role and self.directory.get(env["meta"]["from"]).role != role:
            raise errors.AccessDenied(f"{env['meta']['from']} is not a {role}")
        return body

    def check(self, env: dict[str, Any], kind: str, sender: str | None = None) -> dict[str, Any]:
        check(env, self.directory, kind, sender)
        return env["body"]

    def require_admin(self, request: Request) -> None:
        if not secrets.compare_digest(request.headers.get("x-admin-token", ""), self.admin_token):
            raise AccessDenied(f"operator action: send the token from {self.state / 'admin.token'}")

    # ------------------------------------------------------------ HTTP

    def url(self, party_id: str, path: str) -> str:
        return self.directory.get(party_id).url.rstrip("/") + path

    def call(
        self,
        party_id: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        method: str = "POST",
    ) -> Any:
        return http_call(self.url(party_id, path), method=method, json_body=json_body, content=content)

    # ------------------------------------------------------------ per-task files

    def task_dir(self, task_id: str, create: bool = True) -> Path:
        if not (task_id.isalnum() and task_id.isascii() and len(task_id) <= 64):
            raise MPCError(f"invalid task id {task_id!r}")
        path = self.state / "tasks" / task_id
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, task_id: str, name: str, obj: Any) -> None:
        path = self.task_dir(task_id) / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(obj, indent=1))
        tmp.replace(path)

    def load(self, task_id: str, name: str, default: Any = None) -> Any:
        path = self.task_dir(task_id, create=False) / name
        if not path.exists():
            if default is not None:
                return default
            raise errors.NotFound(f"{self.id} has no {name.removesuffix('.json')} for task {task_id}")
        return json.loads(path.read_text())

    def register(self, app: FastAPI) -> None:
        """Role-specific routes."""


def http_call(
    url: str,
    *,
    method: str = "POST",
    json_body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT_S,
) -> Any:
    """Call a party; a refusal comes back as the same GovfabricError subclass it was raised as."""
    hdrs = dict(headers or {})
    if content is not None:
        hdrs["content-type"] = "application/octet-stream"
    try:
        resp = httpx.request(method, url, json=json_body, content=content, headers=hdrs, timeout=timeout)
    except httpx.HTTPError as exc:
        raise MPCError(f"party at {url} is unreachable ({type(exc).__name__}); start it and resume") from exc
    if resp.status_code >= 400:
        try:
            err = resp.json()
            cls = getattr(errors, err.get("type", ""), MPCError)
            if not (isinstance(cls, type) and issubclass(cls, GovfabricError)):
                cls = MPCError
            raise cls(err.get("error", resp.text))
        except ValueError:
            raise MPCError(f"{url} answered {resp.status_code}: {resp.text[:300]}") from None
    if resp.headers.get("content-type", "").startswith("application/octet-stream"):
        return resp.content
    return resp.json()


def create_app(party: Party) -> FastAPI:
    app = FastAPI(title=f"govfabric MPC {party.role} {party.id}", docs_url=None, redoc_url=None)

    @app.exception_handler(GovfabricError)
    async def _refused(request: Request, exc: GovfabricError) -> JSONResponse:
        party.log.warning("refused %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status_code=exc.status)

    @app.get("/identity")
    def identity() -> dict[str, Any]:
        return {
            "id": party.id,
            "role": party.role,
            "alg": party.key.alg,
            "public_key": party.key.public_hex,
            "time": time.time(),
        }

    party.register(app)
    return app
