"""What of a lineage event a principal may read (§8.4.4.4; issue 10, "Logs and lineage").

Events are stored as emitted, full SQL text included. When they are read, another principal's
SQL is shown with every literal replaced by ``?`` (comments dropped: they can hold values too) and
its error message withheld — unless the reader is an auditor or admin. Text that does not parse is
dropped rather than shown. A principal's own events stay verbatim.

Events forwarded to an OpenLineage consumer (Marquez) are redacted the same way: whoever reads
that consumer is not known to govfabric. Auditors read the full text here, in the workspace.
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor

WITHHELD = "error details withheld (another principal's run)"


def sees_all_sql(viewer: Actor | None) -> bool:
    """Auditors and admins read everyone's SQL verbatim."""
    return viewer is not None and viewer.has("auditor")


@functools.lru_cache(maxsize=4096)
def strip_literals(sql: str, dialect: str | None = None) -> str | None:
    """``sql`` with every literal (strings, numbers, dates, hex and dollar strings) replaced by ``?``
    and comments dropped; ``None`` when it does not parse (then nothing of it may be shown)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    literals = (exp.Literal, exp.HexString, exp.BitString, exp.ByteString, exp.RawString, exp.National,
                exp.UnicodeString)
    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        dialect = None
    try:
        trees = sqlglot.parse(sql, read=dialect)
        out = []
        for tree in trees:
            if tree is None:
                continue
            out.append(tree.transform(lambda n: exp.Var(this="?") if isinstance(n, literals) else n)
                       .sql(dialect=dialect, comments=False))
    except Exception:  # sqlglot raises ParseError, TokenError and others on text it cannot read
        return None
    return "; ".join(out) or None


def redact(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenLineage event fit for someone who is not its principal: SQL facet literals
    replaced (the facet dropped when the text does not parse), error message withheld."""
    out = copy.deepcopy(payload)
    job_facets = (out.get("job") or {}).get("facets") or {}
    sql = job_facets.get("sql")
    if isinstance(sql, dict) and isinstance(sql.get("query"), str):
        stripped = strip_literals(sql["query"], sql.get("dialect"))
        if stripped is None:
            del job_facets["sql"]
        else:
            sql["query"] = stripped
    error = ((out.get("run") or {}).get("facets") or {}).get("errorMessage")
    if isinstance(error, dict):
        error["message"] = WITHHELD
        error.pop("stackTrace", None)
    return out


def for_viewer(payload: dict[str, Any], actor: str | None, viewer: Actor | None) -> dict[str, Any]:
    """The event as ``viewer`` may read it (``actor``: the principal whose run it records)."""
    if sees_all_sql(viewer) or (viewer is not None and actor is not None and actor == viewer.name):
        return payload
    return redact(payload)
