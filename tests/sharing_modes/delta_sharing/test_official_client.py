"""The official ``delta-sharing`` 1.4.2 client, from its own venv, against a real ``govfabric serve``:
list tables, ``load_as_pandas`` with Chinese strings intact, the mask and row filter applied, a
revoked recipient refused with 403."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.infra.serving import serving
from tests.sharing_modes.delta_sharing.conftest import MASKED

SCRIPT = """
import json, sys
import delta_sharing
profile = sys.argv[1]
out = {}
try:
    client = delta_sharing.SharingClient(profile)
    out["tables"] = sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())
    df = delta_sharing.load_as_pandas(profile + "#gov.market.enterprise")
    out["rows"] = len(df)
    out["columns"] = list(df.columns)
    out["names"] = df["name"].tolist()
    out["districts"] = sorted(set(df["district"].tolist()))
    out["masked"] = df["MASKED_COLUMN"].tolist()
except Exception as exc:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    out["error"] = {"status": status, "text": str(exc)[:500]}
print(json.dumps(out, ensure_ascii=False))
""".replace("MASKED_COLUMN", MASKED)


def _run(python: Path, profile: Path) -> dict[str, Any]:
    done = subprocess.run([python, "-c", SCRIPT, str(profile)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_official_client_reads_govfabric(shared: Any, client_python: Path, tmp_path: Path) -> None:
    with serving(shared.settings.home, tmp_path / "serve.log") as served:  # a recipient made now is served at once
        rec, profile = shared.delta_sharing.add_recipient("analyst_r", "analyst1",
                                                          endpoint=f"{served.url}/delta-sharing")
        got = _run(client_python, profile)
        assert got["tables"] == ["gov.market.enterprise"], got
        assert got["rows"] > 0 and set(got["districts"]) == {"朝阳区"}, got  # the row filter
        assert any("\u4e00" <= ch <= "\u9fff" for n in got["names"] for ch in n), got["names"]  # Chinese intact
        assert all(v is None or "*" in v for v in got["masked"]) and any(got["masked"]), got["masked"]  # the mask
        shared.delta_sharing.revoke_recipient("analyst_r")
        refused = _run(client_python, profile)
        assert "tables" not in refused and refused["error"]["status"] == 403, refused
