"""Check-character conditions as SQL trees, so credit-code and resident-ID checks run in the database.

GB 32100 (credit code: mod-31 check character over 17 weighted symbols, plus the
GB 11714 organisation-code check at position 17) and GB 11643 (resident ID: ISO 7064
MOD 11-2) are sums of weighted character values; ``STRPOS(alphabet, SUBSTRING(…))``
turns a character into its value in any SQL dialect sqlglot can write.

A value is *invalid* when any one of its parts is wrong, written as ``defect₁ OR defect₂ OR …``
from the cheapest part to the dearest (not ``NOT (ok₁ AND ok₂ AND …)``, the same in SQL's
three-valued logic): a database's filter evaluates an ``OR`` child only on the rows the children
before it left undecided, where a ``NOT`` over an ``AND`` evaluates every part on every row. A
code with a wrong organisation check character (position 17, 8 symbols) is then never weighed
for the credit-code check character (position 18, 17 symbols); a valid code still costs every part.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp, parse_one

from govfabric.identifiers import (
    ORG_CODE_WEIGHTS,
    PROVINCE_CODES,
    RESIDENT_ID_WEIGHTS,
    USCC_ALPHABET,
    USCC_AUTHORITIES,
    USCC_WEIGHTS,
)

_PROVINCE = f"({'|'.join(sorted(PROVINCE_CODES))})"
_AUTHORITY = "(" + "|".join(a + "[" + "".join(sorted(types)) + "]" for a, (_, types) in USCC_AUTHORITIES.items()) + ")"
#: the same structure :func:`govfabric.identifiers.validate_uscc` checks: authority and entity type,
#: a division code starting with a province (or 100000), then ten symbols of the alphabet
USCC_RE = f"^{_AUTHORITY}({_PROVINCE}[0-9]{{4}}|100000)[0-9A-HJ-NP-RTUWXY]{{10}}$"
_LEAP = "(19(0[48]|[2468][048]|[13579][26])|20([02468][048]|[13579][26]))"  # 1900 and 2100 are not leap years
_DATE = ("((19|20)[0-9]{2}((0[13578]|1[02])(0[1-9]|[12][0-9]|3[01])|(0[469]|11)(0[1-9]|[12][0-9]|30)"
         f"|02(0[1-9]|1[0-9]|2[0-8]))|{_LEAP}0229)")
#: province, four more division digits, a real birth date from 1900, sequence, check character
RESIDENT_RE = f"^{_PROVINCE}[0-9]{{4}}{_DATE}[0-9]{{3}}[0-9X]$"
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RESIDENT_CHECK = "10X98765432"
_ORG_CHECK = "0123456789X0"


def _weighted(col: exp.Expression, start: int, weights: tuple[int, ...], alphabet: str) -> exp.Expression:
    """Σ value·weight, written Σ STRPOS·weight − Σ weight (values are STRPOS − 1): one subtraction, not one per
    character — the expression runs for every row of the table."""
    terms = [exp.Mul(this=exp.StrPosition(this=exp.Literal.string(alphabet), substr=_char_at(col, start + i)),
                     expression=exp.Literal.number(w)) for i, w in enumerate(weights)]
    total: exp.Expression = terms[0]
    for t in terms[1:]:
        total = exp.Add(this=total, expression=t)
    return exp.Paren(this=exp.Sub(this=total, expression=exp.Literal.number(sum(weights))))


def _char_at(col: exp.Expression, pos: int) -> exp.Expression:
    return exp.Substring(this=col.copy(), start=exp.Literal.number(pos), length=exp.Literal.number(1))


def _pick(alphabet: str, index: exp.Expression) -> exp.Expression:
    return exp.Substring(this=exp.Literal.string(alphabet), start=exp.Add(this=index, expression=exp.Literal.number(1)),
                         length=exp.Literal.number(1))


def _mod(a: exp.Expression, n: int) -> exp.Expression:
    return exp.Paren(this=exp.Mod(this=exp.Paren(this=a), expression=exp.Literal.number(n)))


def as_text(column: str) -> exp.Expression:
    return exp.cast(exp.column(column, quoted=True), "VARCHAR")


def uscc_defects(col: exp.Expression) -> list[exp.Expression]:
    """Format, organisation-code check (position 17), credit-code check (position 18): cheapest first."""
    s18 = _weighted(col, 1, USCC_WEIGHTS, USCC_ALPHABET)
    check18 = _pick(USCC_ALPHABET, _mod(exp.Sub(this=exp.Literal.number(31), expression=_mod(s18, 31)), 31))
    s17 = _weighted(col, 9, ORG_CODE_WEIGHTS, _BASE36)
    # 11 - (s mod 11) is 1..11, written 1..9, X, 0: one lookup, so the sum is evaluated once (not per CASE arm)
    check17 = _pick(_ORG_CHECK, exp.Sub(this=exp.Literal.number(11), expression=_mod(s17, 11)))
    return [exp.Not(this=matches(col, USCC_RE)), exp.NEQ(this=_char_at(col, 17), expression=check17),
            exp.NEQ(this=_char_at(col, 18), expression=check18)]


def resident_id_defects(col: exp.Expression, today: date | None = None) -> list[exp.Expression]:
    """Format, a birth date after ``today``, the MOD 11-2 check character: cheapest first."""
    total = _weighted(col, 1, RESIDENT_ID_WEIGHTS, "0123456789")
    born = exp.Substring(this=col.copy(), start=exp.Literal.number(7), length=exp.Literal.number(8))
    return [exp.Not(this=matches(col, RESIDENT_RE)),
            exp.GT(this=born, expression=exp.Literal.string(f"{today or date.today():%Y%m%d}")),
            exp.NEQ(this=_char_at(col, 18), expression=_pick(_RESIDENT_CHECK, _mod(total, 11)))]


def uscc_valid(col: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Paren(this=exp.or_(*uscc_defects(col))))


def resident_id_valid(col: exp.Expression, today: date | None = None) -> exp.Expression:
    return exp.Not(this=exp.Paren(this=exp.or_(*resident_id_defects(col, today))))


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
    """The value breaks the standard: its defects OR-ed, cheapest first (see the module docstring)."""
    col = as_text(column)
    if kind == "uscc":
        return exp.Paren(this=exp.or_(*uscc_defects(col)))
    if kind == "resident_id":
        return exp.Paren(this=exp.or_(*resident_id_defects(col)))
    assert pattern is not None
    return exp.Not(this=exp.Paren(this=matches(col, pattern)))


def not_in_reference(column: str, ref_table: exp.Table, ref_column: str) -> exp.Expression:
    rc = exp.column(ref_column, quoted=True)
    sub = exp.select(rc).from_(ref_table).where(exp.Not(this=exp.Is(this=rc.copy(), expression=exp.Null())))
    return exp.Not(this=exp.In(this=exp.column(column, quoted=True), query=exp.Subquery(this=sub)))


def duplicated(column: str) -> exp.Expression:
    """``column`` holds a value other rows hold too: one hash aggregate over the batch, where GX's
    own uniqueness metrics partition the table by a window function twice (count, then sample)."""
    col = exp.column(column, quoted=True)
    dups = (exp.select(col.copy()).from_(exp.to_table("__gf_batch__"))
            .group_by(col.copy()).having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))))
    return exp.In(this=col, query=exp.Subquery(this=dups))


def parse_table(dotted: str) -> exp.Table:
    return parse_one(dotted, into=exp.Table)
