"""The one canonical JSON form that govfabric hashes and signs: RFC 8785 (JCS).

Audit events, chain anchor metadata, MPC envelopes and reports, and catalog structure
digests all hash or sign JSON. JCS gives every value exactly one byte form (ES6 number
formatting, keys ordered by UTF-16 code units, UTF-8 output) that other implementations
reproduce, unlike ``json.dumps(sort_keys=True)`` whose number forms are Python's own.

The helper refuses what JSON cannot carry exactly — NaN and infinities, integers beyond
±(2**53 - 1), datetimes, Decimals, tuples, non-string keys — instead of stringifying them
silently: a caller that holds such values converts them on purpose (see :func:`jsonable`).

Records written before JCS keep verifying with :func:`legacy`, the form used until then;
each place records which form a record uses (``CANON`` markers, or the audit head's
``jcs_from``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

from govfabric.errors import ValidationFailed

#: the marker a signed or hashed record carries when it uses :func:`canonical`
CANON = "jcs"
#: the largest integer JSON numbers (IEEE doubles) carry exactly
MAX_SAFE_INT = 2**53 - 1


class NotCanonicalJSON(ValidationFailed):
    """A value has no canonical JSON form (NaN, a datetime, an integer too large for a double…)."""


def canonical(obj: Any, *, plain: bool = False) -> bytes:
    """The RFC 8785 bytes of ``obj``; :class:`NotCanonicalJSON` if ``obj`` is not plain JSON.

    Values whose JCS form is the standard library's sorted, compact JSON (see :func:`_plain`) are
    written by its C encoder: every audit event is hashed, and the pure-Python serialiser cost
    ~0.1 ms of each recorded query. Everything else goes through ``rfc8785``. ``plain``: the caller
    knows ``obj`` is such a value (:func:`jsonable_plain`), so it is not walked again to check."""
    if plain or _plain(obj):
        try:
            return _ENCODE(obj).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says why it is not JSON
            pass
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise NotCanonicalJSON(
            f"cannot hash or sign this value as JSON ({exc}): convert it explicitly first "
            "(strings for datetimes, Decimals and large integers; no NaN or infinity)"
        ) from exc


_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                           check_circular=False).encode


def _plain(obj: Any) -> bool:
    """Whether ``json.dumps(sort_keys=True)`` writes ``obj`` exactly as RFC 8785 does: plain types
    only; integers in a double's exact range; floats Python writes without an exponent or a
    trailing ``.0`` (``str(f)``, which JCS then keeps as it is); keys without characters beyond
    U+FFFF (JCS orders keys by UTF-16 code units, Python by code points: the same below that).
    Strings are escaped alike by both (``"``, ``\\`` and control characters, lowercase ``\\u00xx``)."""
    t = type(obj)
    if t is str or t is bool or obj is None:
        return True
    if t is int:
        return -MAX_SAFE_INT <= obj <= MAX_SAFE_INT
    if t is float:
        return 1e-4 <= abs(obj) < 1e16 and not obj.is_integer()
    if t is dict:
        return all(type(k) is str and (k.isascii() or max(k) <= "\uffff") and _plain(v) for k, v in obj.items())
    if t is list or t is tuple:
        return all(_plain(v) for v in obj)
    return False


def legacy(obj: Any) -> bytes:
    """The form hashed and signed before RFC 8785 (Python's sorted-keys JSON); verification of
    records written then only. ``default=str`` as those writers had it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def form(marker: str | None) -> Any:
    """The canonical function a record's marker names: :func:`canonical` for ``"jcs"``, else :func:`legacy`."""
    return canonical if marker == CANON else legacy


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON a caller can store and then hash: datetimes, Decimals and other objects
    as their ``str``, tuples as lists, integers beyond a double's exact range and non-finite floats
    as strings. For callers that take arbitrary values (audit details, anchor metadata) and convert
    them on purpose before :func:`canonical`."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):  # enums deriving from str: their value, as json.dumps writes them
        return str.__str__(obj)
    if isinstance(obj, int):
        return int(obj) if -MAX_SAFE_INT <= obj <= MAX_SAFE_INT else str(int(obj))
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return str(obj)


def jsonable_plain(obj: Any) -> tuple[Any, bool]:
    """:func:`jsonable` of ``obj`` and whether that is a :func:`_plain` value, in one walk: every
    audit event's details took both walks (a tenth of recording a query)."""
    t = type(obj)
    if t is str or t is bool or obj is None:
        return obj, True
    if t is int:
        return (obj, True) if -MAX_SAFE_INT <= obj <= MAX_SAFE_INT else (str(obj), True)
    if t is float:
        if not math.isfinite(obj):
            return str(obj), True
        return obj, 1e-4 <= abs(obj) < 1e16 and not obj.is_integer()
    if t is dict:
        out, plain = {}, True
        for k, v in obj.items():
            key = k if type(k) is str else _key(k)
            out[key], p = jsonable_plain(v)
            plain = plain and p and (key.isascii() or max(key) <= "\uffff")
        return out, plain
    if t is list or t is tuple:
        items, plain = [], True
        for v in obj:
            c, p = jsonable_plain(v)
            items.append(c)
            plain = plain and p
        return items, plain
    clean = jsonable(obj)  # subclasses and other objects: as jsonable converts them
    return clean, _plain(clean)


def _key(k: Any) -> str:
    """A dict key as ``json.dumps`` writes it (what stored details already hold)."""
    if isinstance(k, bool) or k is None:
        return json.dumps(k)
    return str(k)


def _number(text: str) -> int | float:
    value = int(text)
    return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else float(text)


def loads(data: bytes | str) -> Any:
    """Parse JSON written by :func:`canonical` so that it serialises to the same bytes again: JCS
    writes a double such as 1e16 as ``10000000000000000``, which plain ``json.loads`` would read
    as an integer beyond a double's range (and :func:`canonical` refuses); here it is a float."""
    return json.loads(data, parse_int=_number)
