"""Run one statement on a Trino server over its REST protocol (stdlib only).

Used by the service scripts to check readiness before the project's virtualenv
exists, so it must not import anything outside the standard library.
Usage: python3 trino_query.py URL SQL  -> prints rows as JSON lines, exits 1 on error.
"""

from __future__ import annotations

import json
import sys
import urllib.request


def run(url: str, sql: str, user: str = "govfabric-ci", timeout: float = 30.0) -> list[list[object]]:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/statement",
        data=sql.encode(),
        headers={"X-Trino-User": user, "Content-Type": "text/plain"},
        method="POST",
    )
    rows: list[list[object]] = []
    with urllib.request.urlopen(request, timeout=timeout) as response:
        page = json.load(response)
    while True:
        if "error" in page:
            error = page["error"]
            raise RuntimeError(f"{error.get('errorName')}: {error.get('message')}")
        rows.extend(page.get("data") or [])
        next_uri = page.get("nextUri")
        if not next_uri:
            return rows
        with urllib.request.urlopen(next_uri, timeout=timeout) as response:
            page = json.load(response)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        for row in run(sys.argv[1], sys.argv[2]):
            print(json.dumps(row))
    except Exception as exc:  # report any failure as a non-zero exit for the shell
        print(f"trino query failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
