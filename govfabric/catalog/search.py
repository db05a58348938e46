"""Catalog search: ranked substring search over names, Chinese names, descriptions,
columns and tags; recent and hot searches (§8.4.1.4, §9.4.4.4).

Candidates come from the index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL);
the score prefers exact and prefix matches on names over matches in descriptions
and columns; highlights are computed on the few hits returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, desc, func, literal, select, text
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, AssetColumn, SearchLog
from govfabric.errors import ValidationFailed
from govfabric.store.base import utcnow

MAX_QUERY = 200
MARK_OPEN, MARK_CLOSE = "<em>", "</em>"  # as search engines mark highlights


@dataclass
class Hit:
    asset_id: str
    qualified_name: str
    name: str
    cn_name: str | None
    description: str | None
    score: int
    matches: list[tuple[str, str]] = field(default_factory=list)  # (field, text with marks)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.asset_id, "qualified_name": self.qualified_name, "name": self.name,
                "cn_name": self.cn_name, "description": self.description, "score": self.score,
                "matches": [{"field": f, "text": t} for f, t in self.matches]}


def terms_of(query: str) -> list[str]:
    q = query.strip()
    if not q:
        raise ValidationFailed("empty search: give some text to look for")
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"search text longer than {MAX_QUERY} characters")
    return list(dict.fromkeys(t.lower() for t in q.split()))


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, query: str, *, limit: int = 20,
           filters: dict[str, str] | None = None) -> list[Hit]:
    terms = terms_of(query)
    whole = " ".join(terms)
    name, cn = func.lower(Asset.name), func.lower(func.coalesce(Asset.cn_name, ""))
    score = literal(0)
    for t in terms:
        score = score + case((name == t, 100), (cn == t, 100), (name.like(_like(t)[1:], escape="\\"), 60),
                             (cn.like(_like(t)[1:], escape="\\"), 60), (name.like(_like(t), escape="\\"), 40),
                             (cn.like(_like(t), escape="\\"), 40),
                             (func.lower(func.coalesce(Asset.description, "")).like(_like(t), escape="\\"), 15),
                             else_=5)
    score = score + case((cn == whole, 50), else_=0)
    q = select(Asset.id, Asset.qualified_name, Asset.name, Asset.cn_name, Asset.description,
               score.label("score")).where(Asset.status == "active")
    if session.get_bind().dialect.name == "sqlite":
        # FTS5 trigram answers LIKE from its index for terms of three or more characters.
        conds = " AND ".join(f"search_text LIKE :t{i} ESCAPE '\\'" for i in range(len(terms)))
        ids = text(f"SELECT asset_id FROM catalog_search_fts WHERE {conds}")  # noqa: S608 (placeholders only)
        ids = ids.bindparams(**{f"t{i}": _like(t) for i, t in enumerate(terms)})
        q = q.where(Asset.id.in_(ids.columns(asset_id=Asset.id.type)))
    else:
        q = q.where(and_(*[Asset.search_text.like(_like(t), escape="\\") for t in terms]))
    for facet, value in (filters or {}).items():
        q = q.where(getattr(Asset, facet) == value)
    q = q.order_by(desc("score"), Asset.qualified_name).limit(limit)
    hits = [Hit(*row) for row in session.execute(q)]
    _highlight(session, hits, terms)
    return hits


def mark(text_: str, terms: list[str]) -> str | None:
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    if not pattern.search(text_):
        return None
    return pattern.sub(lambda m: f"{MARK_OPEN}{m.group(0)}{MARK_CLOSE}", text_)


def _highlight(session: Session, hits: list[Hit], terms: list[str]) -> None:
    if not hits:
        return
    by_id = {h.asset_id: h for h in hits}
    for h in hits:
        for fld, value in (("name", h.qualified_name), ("cn_name", h.cn_name), ("description", h.description)):
            if value and (m := mark(value, terms)):
                h.matches.append((fld, m))
    for aid, cname, ccn in session.execute(
            select(AssetColumn.asset_id, AssetColumn.name, AssetColumn.cn_name)
            .where(AssetColumn.asset_id.in_(list(by_id))).order_by(AssetColumn.position)):
        label = f"{cname} {ccn}" if ccn else cname
        if (m := mark(label, terms)) and sum(f == "column" for f, _ in by_id[aid].matches) < 5:
            by_id[aid].matches.append(("column", m))


def log_search(session: Session, principal: str, query: str, results: int) -> None:
    session.add(SearchLog(principal=principal, query=query.strip()[:MAX_QUERY], results=results))


def recent_searches(session: Session, principal: str, limit: int = 10) -> list[str]:
    rows = session.execute(select(SearchLog.query, func.max(SearchLog.at).label("last"))
                           .where(SearchLog.principal == principal).group_by(SearchLog.query)
                           .order_by(desc("last")).limit(limit))
    return [r[0] for r in rows]


def hot_searches(session: Session, limit: int = 10, days: int = 30) -> list[tuple[str, int]]:
    since = utcnow() - timedelta(days=days)
    rows = session.execute(select(SearchLog.query, func.count().label("n"))
                           .where(SearchLog.at >= since, SearchLog.results > 0).group_by(SearchLog.query)
                           .order_by(desc("n"), SearchLog.query).limit(limit))
    return [(r[0], int(r[1])) for r in rows]
