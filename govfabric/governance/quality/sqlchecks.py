"""Check-character conditions as SQL trees, so credit-code and resident-ID checks run in the database.

GB 32100 (credit code: mod-31 check character over 17 weighted symbols, plus the
GB 11714 organisation-code check at position 17) and GB 11643 (resident ID: ISO 7064
MOD 11-2) are sums of weighted character values; ``STRPOS(alphabet, SUBSTRING(…))``
turns a character into its value in any SQL dialect sqlglot can write.
"""

from __future__ import annotations

from sqlglot import exp, parse_one

from govfabric.identifiers import ORG_CODE_WEIGHTS, RESIDENT_ID_WEIGHTS, USCC_ALPHABET, USCC_WEIGHTS

USCC_RE = "^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$"
RESIDENT_RE = "^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$"
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RESIDENT_CHECK = "10X98765432"


def _value(col: exp.Expression, pos: int, alphabet: str) -> exp.Expression:
    """Value of the character at 1-based ``pos`` in ``alphabet`` (-1 when absent)."""
    char = exp.Substring(this=col.copy(), start=exp.Literal.number(pos), length=exp.Literal.number(1))
    return exp.Sub(this=exp.StrPosition(this=exp.Literal.string(alphabet), substr=char),
                   expression=exp.Literal.number(1))


def _weighted(col: exp.Expression, start: int, weights: tuple[int, ...], alphabet: str) -> exp.Expression:
    terms = [exp.Mul(this=exp.Paren(this=_value(col, start + i, alphabet)), expression=exp.Literal.number(w))
             for i, w in enumerate(weights)]
    total: exp.Expression = terms[0]
    for t in terms[1:]:
        total = exp.Add(this=total, expression=t)
    return exp.Paren(this=total)


def _char_at(col: exp.Expression, pos: int) -> exp.Expression:
    return exp.Substring(this=col.copy(), start=exp.Literal.number(pos), length=exp.Literal.number(1))


def _pick(alphabet: str, index: exp.Expression) -> exp.Expression:
    return exp.Substring(this=exp.Literal.string(alphabet), start=exp.Add(this=index, expression=exp.Literal.number(1)),
                         length=exp.Literal.number(1))


def _mod(a: exp.Expression, n: int) -> exp.Expression:
    return exp.Paren(this=exp.Mod(this=exp.Paren(this=a), expression=exp.Literal.number(n)))


def as_text(column: str) -> exp.Expression:
    return exp.cast(exp.column(column, quoted=True), "VARCHAR")


def uscc_valid(col: exp.Expression) -> exp.Expression:
    """Format, organisation-code check (position 17) and credit-code check (position 18)."""
    s18 = _weighted(col, 1, USCC_WEIGHTS, USCC_ALPHABET)
    check18 = _pick(USCC_ALPHABET, _mod(exp.Sub(this=exp.Literal.number(31), expression=_mod(s18, 31)), 31))
    s17 = _weighted(col, 9, ORG_CODE_WEIGHTS, _BASE36)
    r = exp.Sub(this=exp.Literal.number(11), expression=_mod(s17, 11))
    check17 = exp.Case(ifs=[exp.If(this=exp.EQ(this=r.copy(), expression=exp.Literal.number(10)),
                                   true=exp.Literal.string("X")),
                            exp.If(this=exp.EQ(this=r.copy(), expression=exp.Literal.number(11)),
                                   true=exp.Literal.string("0"))],
                       default=exp.cast(r.copy(), "VARCHAR"))
    return exp.and_(matches(col, USCC_RE), exp.EQ(this=_char_at(col, 17), expression=check17),
                    exp.EQ(this=_char_at(col, 18), expression=check18))


def resident_id_valid(col: exp.Expression) -> exp.Expression:
    """Format (division, birth date shape) and the MOD 11-2 check character."""
    total = _weighted(col, 1, RESIDENT_ID_WEIGHTS, "0123456789")
    return exp.and_(matches(col, RESIDENT_RE),
                    exp.EQ(this=_char_at(col, 18), expression=_pick(_RESIDENT_CHECK, _mod(total, 11))))


def matches(col: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=col.copy(), expression=exp.Literal.string(pattern))


def unexpected_query(column: str, bad: exp.Expression, dialect: str) -> str:
    """``SELECT column FROM {batch} WHERE column IS NOT NULL AND <bad>``, braces escaped for GX."""
    col = exp.column(column, quoted=True)
    q = (exp.select(col).from_(exp.to_table("__gf_batch__"))
         .where(exp.and_(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null())), bad)))
    sql = q.sql(dialect).replace("{", "{{").replace("}", "}}")
    return sql.replace("__gf_batch__", "{batch}")


def invalid(kind: str, column: str, pattern: str | None = None) -> exp.Expression:
    col = as_text(column)
    if kind == "uscc":
        ok = uscc_valid(col)
    elif kind == "resident_id":
        ok = resident_id_valid(col)
    else:
        assert pattern is not None
        ok = matches(col, pattern)
    return exp.Not(this=exp.Paren(this=ok))


def not_in_reference(column: str, ref_table: exp.Table, ref_column: str) -> exp.Expression:
    rc = exp.column(ref_column, quoted=True)
    sub = exp.select(rc).from_(ref_table).where(exp.Not(this=exp.Is(this=rc.copy(), expression=exp.Null())))
    return exp.Not(this=exp.In(this=exp.column(column, quoted=True), query=exp.Subquery(this=sub)))


def parse_table(dotted: str) -> exp.Table:
    return parse_one(dotted, into=exp.Table)
