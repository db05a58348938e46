"""What kind of value a virtual column holds, for modules that compare or convert values by kind
(conditional query parameters, prefill form components): one classification of sqlglot types."""

from __future__ import annotations

from sqlglot import exp


def value_kind(dtype: exp.DataType | str | None) -> str | None:
    """``text``, ``int``, ``number``, ``date``, ``timestamp``, ``bool`` or ``blob`` for a column type
    (a sqlglot type, or its DuckDB text); None for other types and for text sqlglot cannot read."""
    if not isinstance(dtype, exp.DataType):
        try:
            dtype = exp.DataType.build(dtype or "VARCHAR", dialect="duckdb")
        except Exception:  # a source type sqlglot does not know
            return None
    if dtype.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if dtype.is_type(*exp.DataType.INTEGER_TYPES):
        return "int"
    if dtype.is_type(*exp.DataType.REAL_TYPES):
        return "number"
    if dtype.is_type(exp.DataType.Type.DATE):
        return "date"
    if dtype.is_type(*exp.DataType.TEMPORAL_TYPES):
        return "timestamp"
    if dtype.is_type(exp.DataType.Type.BOOLEAN):
        return "bool"
    if dtype.is_type(exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY):
        return "blob"
    return None
