"""Catalog search: ranked substring search over names, Chinese names, descriptions, columns and
tags; recent and hot searches (§8.4.1.4, §9.4.4.4).

An asset matches when its document (see ``search_index``) contains every term. Its score adds,
per term: 100 for a name or Chinese name equal to it, 60 for one starting with it, 40 for one
containing it, 15 for a description containing it, 5 otherwise; plus 50 when the Chinese name is
the whole query. Equal scores go in qualified-name order.

Each lookup reads a bounded number of entries — the first N matches the index yields (SQLite
streams FTS5 rowids, PostgreSQL stops reading its GIN bitmap) — so a common term costs about what
a rare one does. One term: the levels from the best down (equal names, the Chinese name equal
first; names starting with the term; names containing it; names or description containing it;
anything), ``limit`` matches each, stopping at the first full level: whatever is missing ranks
below ``limit`` entries already found, so this is the exact top ``limit`` (up to which of many
equal scores are shown). Several terms: all matches are scored when there are fewer than
``FEW``; else the first ``FEW`` plus the first of each level (an equal name; every term in the
names; every term in names or description). A filter matching at most ``FACET_FEW`` assets:
they are all checked and scored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import product
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Text,
    and_,
    column,
    desc,
    func,
    literal_column,
    or_,
    select,
    table,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from govfabric.catalog.models import Asset, AssetColumn, SearchLog
from govfabric.catalog.search_index import ENTRIES, GRAMS_FTS, term_tokens, words
from govfabric.errors import ValidationFailed
from govfabric.store.base import utcnow

MAX_QUERY = 200
MARK_OPEN, MARK_CLOSE = "<em>", "</em>"  # as search engines mark highlights
#: a query with fewer matches than this has all of them scored
FEW = 200
#: a facet filter with at most this many assets is searched by reading them all
FACET_FEW = 2000
_D = ENTRIES.c
_ENTRY = (_D.id, _D.qualified_name, _D.asset_id, _D.name, _D.cn, _D.descr)


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


def score(name: str, cn: str, descr: str, terms: list[str]) -> int:
    """The rank of an entry (lower-cased fields) for these terms."""
    total = 0
    for t in terms:
        if t in (name, cn):
            total += 100
        elif name.startswith(t) or cn.startswith(t):
            total += 60
        elif t in name or t in cn:
            total += 40
        elif t in descr:
            total += 15
        else:
            total += 5
    return total + (50 if cn == " ".join(terms) else 0)


# -- the index, per store backend ---------------------------------------------------------------

#: a token lookup: entries having all tokens of one of the lists
Lookup = list[list[str]]
#: the most token lists a lookup may have (several terms, each in names or description, multiply them)
MAX_ALTERNATIVES = 16


class _Backend:
    """How one store backend finds entries by tokens and tests their text."""

    def source(self, lookup: Lookup) -> tuple[FromClause, ColumnElement[bool]]:
        raise NotImplementedError

    def contains(self, col: Any, term: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def behind(self, col: Any) -> Any:
        """``col`` in a facet filter that must not lead the plan (the level's own index does)."""
        return col


class _SQLite(_Backend):
    """The contentless FTS5 table drives the query (it yields rowids, the entries' ids, in order
    and stops when the LIMIT is met); ``instr`` tests text."""

    _fts = table(GRAMS_FTS, column("rowid"))

    def source(self, lookup: Lookup) -> tuple[FromClause, ColumnElement[bool]]:
        query = " OR ".join("(" + " AND ".join(f'"{t}"' for t in alt) + ")" for alt in lookup)
        return (self._fts.join(ENTRIES, _D.id == self._fts.c.rowid),
                literal_column(GRAMS_FTS).op("MATCH")(query))

    def contains(self, col: Any, term: str) -> ColumnElement[bool]:
        return func.instr(col, term) > 0

    def behind(self, col: Any) -> Any:
        """``col || ''``: the same value, but no index of it, so SQLite cannot start from a facet
        holding 40% of the assets (all of them joined to their entries, 50 ms over 20k) instead of
        the entries' name index or the FTS lookup."""
        return col.concat("")


class _PostgreSQL(_Backend):
    """A GIN index over the entries' token arrays; ``strpos`` tests text. Each token list is one
    ``@>`` and the arrays have no statistics, so that the planner finds every candidate through the
    index: checking an array row by row, which it would pick for common tokens, means decompressing
    each row's array."""

    def source(self, lookup: Lookup) -> tuple[FromClause, ColumnElement[bool]]:
        tokens = type_coerce(_D.tokens, ARRAY(Text))  # the column's type is an array on PostgreSQL only
        return ENTRIES, or_(*(tokens.contains(alt) for alt in lookup))

    def contains(self, col: Any, term: str) -> ColumnElement[bool]:
        return func.strpos(col, term) > 0


BACKENDS: dict[str, type[_Backend]] = {"sqlite": _SQLite, "postgresql": _PostgreSQL}


# -- search -------------------------------------------------------------------------------------

@dataclass
class _Level:
    """Entries at or above one rank: ``test`` decides, ``lookup`` (if any) finds candidates, and
    ``first`` (if any) brings the best of them first."""

    test: ColumnElement[bool]
    lookup: Lookup | None = None
    first: ColumnElement[Any] | None = None


def _exact(term: str) -> bool:
    """Whether the index alone decides that a text contains ``term``: one word of 1–2 characters
    is a token itself; anything longer only narrows the candidates."""
    return len(term) <= 2 and words(term) == [term]


class _Search:
    def __init__(self, session: Session, terms: list[str], limit: int, filters: dict[str, str | list[str]],
                 facet_size: int | None = None) -> None:
        self.s, self.terms, self.limit, self.facet_size = session, terms, limit, facet_size
        self.be = BACKENDS[session.get_bind().dialect.name]()
        self.facets = self._facets(filters, lambda c: c)
        self.facets_behind = self._facets(filters, self.be.behind)  # when a level's index leads

    @staticmethod
    def _facets(filters: dict[str, str | list[str]], col: Callable[[Any], Any]) -> list[ColumnElement[bool]]:
        return [col(getattr(Asset, f)).in_(v) if isinstance(v, (list, tuple)) else col(getattr(Asset, f)) == v
                for f, v in filters.items()]

    def _in(self, cols: tuple[Any, ...], t: str, looked_up: bool = True) -> ColumnElement[bool]:
        """``t`` is in one of ``cols``: nothing to check when the rows come from a lookup of its
        token, which decides."""
        return true() if looked_up and _exact(t) else or_(*(self.be.contains(c, t) for c in cols))

    def run(self) -> list[tuple[int, str, str]]:
        """(score, qualified name, asset id) of the best ``limit`` matches, best first."""
        found: dict[int, tuple[int, str, str]] = {}

        def take(rows: list[Any]) -> int:
            for r in rows:
                found[r.id] = (score(r.name, r.cn, r.descr, self.terms), r.qualified_name, r.asset_id)
            return len(rows)

        anywhere = _Level(and_(*(self._in((_D.doc,), t) for t in self.terms)),
                          [[tok for t in self.terms for tok in term_tokens("d", t)]])
        size = self.facet_size if self.facet_size is not None or not self.facets else self._facet_count()
        if self.facets and size is not None and size <= FACET_FEW:  # every asset of the facets, checked
            take(self._rows(and_(*(self._in((_D.doc,), t, False) for t in self.terms)), None, None,
                            facets=self.facets))
        elif len(self.terms) == 1:
            for level in [*self._levels(), anywhere]:
                if take(self._rows(level.test, level.lookup, self.limit, level.first)) == self.limit:
                    break  # nothing below this full level can outrank it
        elif take(self._rows(anywhere.test, anywhere.lookup, max(FEW, self.limit))) == max(FEW, self.limit):
            for level in self._levels():  # many matches: add the best levels' first ones
                take(self._rows(level.test, level.lookup, self.limit, level.first))
        return sorted(found.values(), key=lambda x: (-x[0], x[1]))[:self.limit]

    def _facet_count(self) -> int:
        return facet_size(self.s, self.facets)

    def _levels(self) -> list[_Level]:
        """From the best rank down to names or description; each test implies a match."""
        terms, whole = self.terms, " ".join(self.terms)
        anywhere = and_(*(self._in((_D.doc,), t, False) for t in terms)) if len(terms) > 1 else true()
        names = [self._in((_D.name, _D.cn), t) for t in terms]
        head = [self._in((_D.name, _D.cn, _D.descr), t) for t in terms]
        n_tokens, s_tokens = [term_tokens("n", t) for t in terms], [term_tokens("s", t) for t in terms]
        equal = _Level(and_(or_(_D.cn == whole, *(c == t for t in terms for c in (_D.name, _D.cn))), anywhere),
                       first=desc(_D.cn == whole))
        if len(terms) > 1:
            levels = [equal, _Level(and_(*names), [sum(n_tokens, [])])]
            if 2 ** len(terms) <= MAX_ALTERNATIVES:  # each term in the names or the description
                picks = product(*zip(n_tokens, s_tokens, strict=True))
                levels.append(_Level(and_(*head), [sum(pick, []) for pick in picks]))
            return levels
        t, hi = terms[0], terms[0] + "\U0010ffff"
        return [equal, _Level(or_(and_(_D.name >= t, _D.name < hi), and_(_D.cn >= t, _D.cn < hi))),
                _Level(names[0], [n_tokens[0]]), _Level(head[0], [n_tokens[0], s_tokens[0]])]

    def _rows(self, test: ColumnElement[bool], lookup: Lookup | None, first: int | None,
              order: ColumnElement[Any] | None = None, facets: list[ColumnElement[bool]] | None = None
              ) -> list[Any]:
        """Entries passing ``test`` and the facets: all, or the ``first`` the index yields (the
        first by ``order`` if given). The facets lead the plan only when given (few assets)."""
        facets = self.facets_behind if facets is None else facets
        if lookup is not None:
            src, found_by = self.be.source(lookup)
            q = select(*_ENTRY).select_from(src).where(found_by, test)
        else:
            q = select(*_ENTRY).where(test)
        if facets:
            q = q.join(Asset, Asset.id == _D.asset_id).where(*facets)
        if order is not None:
            q = q.order_by(order)
        return list(self.s.execute(q.limit(first) if first is not None else q))


def facet_size(session: Session, facets: list[ColumnElement[bool]]) -> int:
    """How many active assets pass ``facets``, counted up to ``FACET_FEW + 1``."""
    return int(session.scalar(select(func.count()).select_from(
        select(Asset.id).where(Asset.status == "active", *facets).limit(FACET_FEW + 1).subquery())) or 0)


def filter_size(session: Session, filters: dict[str, str | list[str]]) -> int:
    """:func:`facet_size` of ``filters`` (as :func:`search` takes them), to be kept by the caller."""
    return facet_size(session, _Search._facets(filters, lambda c: c))


def search(session: Session, query: str, *, limit: int = 20,
           filters: dict[str, str | list[str]] | None = None, facet_size: int | None = None) -> list[Hit]:
    """The best ``limit`` matches of ``query``; ``filters``: field -> a value, or a list of values (any).
    ``facet_size``: :func:`filter_size` of the filters if the caller keeps it (else counted here)."""
    terms = [t for t in terms_of(query) if words(t)]  # punctuation alone finds nothing
    if not terms or limit <= 0:
        return []
    ranked = _Search(session, terms, limit, filters or {}, facet_size).run()
    if not ranked:
        return []
    info = {r.id: r for r in session.execute(select(Asset.id, Asset.qualified_name, Asset.name, Asset.cn_name,
                                                    Asset.description).where(Asset.id.in_([a for _, _, a in ranked])))}
    hits = [Hit(a, info[a].qualified_name, info[a].name, info[a].cn_name, info[a].description, sc)
            for sc, _, a in ranked]
    _highlight(session, hits, terms)
    return hits


def marker(terms: list[str]) -> Callable[[str], str | None]:
    """A function marking the terms in a text (None when it has none), compiled once."""
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)

    def mark(text_: str) -> str | None:
        out = pattern.sub(lambda m: f"{MARK_OPEN}{m.group(0)}{MARK_CLOSE}", text_)
        return out if out != text_ else None

    return mark


def mark(text_: str, terms: list[str]) -> str | None:
    return marker(terms)(text_)


def _highlight(session: Session, hits: list[Hit], terms: list[str]) -> None:
    """Marks on the fields of the hits that contain a term; columns read in one query."""
    if not hits:
        return
    by_id = {h.asset_id: h for h in hits}
    mark_ = marker(terms)
    for h in hits:
        for fld, value in (("name", h.qualified_name), ("cn_name", h.cn_name), ("description", h.description)):
            if value and (m := mark_(value)):
                h.matches.append((fld, m))
    columns = {aid: 0 for aid in by_id}
    for aid, cname, ccn in session.execute(
            select(AssetColumn.asset_id, AssetColumn.name, AssetColumn.cn_name)
            .where(AssetColumn.asset_id.in_(list(by_id))).order_by(AssetColumn.position)):
        if columns[aid] < 5 and (m := mark_(f"{cname} {ccn}" if ccn else cname)):
            by_id[aid].matches.append(("column", m))
            columns[aid] += 1


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

