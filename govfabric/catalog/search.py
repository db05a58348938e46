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

from sqlalchemy import case, desc, func, literal, or_, select, text
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
    return "%" + _escape(term) + "%"


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pattern(term: str) -> str:
    """The index-friendly pattern of a term: short terms match the document's short grams."""
    return f"% {_escape(term)} %" if len(term) < 3 else _like(term)


#: more candidates than this means a common term: rank by tiers that stop early instead of scoring all
CANDIDATE_CAP = 400


def _score(terms: list[str]) -> Any:
    name, cn = func.lower(Asset.name), func.lower(func.coalesce(Asset.cn_name, ""))
    whole = " ".join(terms)
    score = literal(0)
    for t in terms:
        score = score + case((name == t, 100), (cn == t, 100), (name.like(_escape(t) + "%", escape="\\"), 60),
                             (cn.like(_escape(t) + "%", escape="\\"), 60), (name.like(_like(t), escape="\\"), 40),
                             (cn.like(_like(t), escape="\\"), 40),
                             (func.lower(func.coalesce(Asset.description, "")).like(_like(t), escape="\\"), 15),
                             else_=5)
    return score + case((cn == whole, 50), else_=0)


def _candidates(session: Session, terms: list[str], limit: int) -> list[str]:
    """Ids of assets whose document contains every term, from the index; at most ``limit``."""
    if session.get_bind().dialect.name == "sqlite":
        conds = " AND ".join(f"search_text LIKE :t{i} ESCAPE '\\'" for i in range(len(terms)))
        q = text(f"SELECT asset_id FROM catalog_search_fts WHERE {conds} LIMIT :lim")  # noqa: S608 (placeholders)
        params: dict[str, Any] = {f"t{i}": _pattern(t) for i, t in enumerate(terms)}
        return list(session.scalars(q, {**params, "lim": limit}))
    q = select(Asset.id).where(Asset.status == "active", *[Asset.search_text.like(_pattern(t), escape="\\")
                                                            for t in terms]).limit(limit)
    return list(session.scalars(q))


def search(session: Session, query: str, *, limit: int = 20,
           filters: dict[str, str] | None = None) -> list[Hit]:
    terms = terms_of(query)
    cols = (Asset.id, Asset.qualified_name, Asset.name, Asset.cn_name, Asset.description)
    facet_conds = [getattr(Asset, facet) == value for facet, value in (filters or {}).items()]
    ids = _candidates(session, terms, CANDIDATE_CAP + 1)
    score = _score(terms).label("score")
    base = select(*cols, score).where(Asset.status == "active", *facet_conds)
    if len(ids) <= CANDIDATE_CAP:
        q = base.where(Asset.id.in_(ids)).order_by(desc("score"), Asset.qualified_name).limit(limit)
        rows = list(session.execute(q))
    else:
        # a common term: rather than scoring every match, take the first assets (in name order) whose
        # names contain the terms — the database stops after ``limit`` — plus the indexed candidates
        name, cn = func.lower(Asset.name), func.lower(func.coalesce(Asset.cn_name, ""))
        in_names = [or_(name.like(_like(t), escape="\\"), cn.like(_like(t), escape="\\")) for t in terms]
        found = {r[0]: r for r in session.execute(base.where(*in_names).order_by(Asset.qualified_name).limit(limit))}
        for r in session.execute(base.where(Asset.id.in_(ids[:CANDIDATE_CAP]))):
            found.setdefault(r[0], r)
        rows = sorted(found.values(), key=lambda r: (-r[-1], r[1]))[:limit]
    hits = [Hit(*row) for row in rows]
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
