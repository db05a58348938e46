"""Rule definitions: what a steward writes (JSON/YAML/CLI options), validated before anything is stored.

Each kind maps onto great-expectations expectations (see :mod:`.expectations`); the
definitions themselves stay engine-neutral so one rule runs on DuckDB or PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from govfabric.errors import ValidationFailed

NAME = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff.]{1,128}$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="unique per asset; generated from kind and column when omitted")
    severity: Literal["error", "warning"] = "error"
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not NAME.match(v):
            raise ValueError("use letters, digits, Chinese characters, '_', '-' or '.' (at most 128)")
        return v

    def columns(self) -> list[str]:
        """Columns of the asset the rule reads (checked against the catalog)."""
        col = getattr(self, "column", None)
        return [col] if col else []

    def default_name(self) -> str:
        return f"{self.kind}_{'_'.join(self.columns()) or 'table'}"  # type: ignore[attr-defined]


class UniqueRule(_Rule):
    """Values (or combinations of values) occur once."""

    kind: Literal["unique"]
    columns_: list[str] = Field(alias="columns", min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def columns(self) -> list[str]:
        return list(self.columns_)


class NotNullRule(_Rule):
    """Completeness: at least ``min_ratio`` of the values are present."""

    kind: Literal["not_null"]
    column: str
    min_ratio: float = Field(1.0, gt=0, le=1)


class FluctuationRule(_Rule):
    """A metric may move at most ``max_change`` (relative) from the mean of its last ``window`` runs."""

    kind: Literal["fluctuation"]
    metric: Literal["row_count", "mean", "sum", "null_ratio"]
    column: str | None = None
    max_change: float = Field(gt=0, le=100)
    window: int = Field(5, ge=1, le=100)

    @model_validator(mode="after")
    def _column(self) -> FluctuationRule:
        if self.metric == "row_count" and self.column:
            raise ValueError("metric row_count takes no column")
        if self.metric != "row_count" and not self.column:
            raise ValueError(f"metric {self.metric} needs a column")
        return self


class InSetRule(_Rule):
    """Values belong to a domain (a code list)."""

    kind: Literal["in_set"]
    column: str
    values: list[str | int | float] = Field(min_length=1, max_length=100_000)


class FormatRule(_Rule):
    """Values match a regular expression, or are valid credit codes / resident ID numbers (check characters)."""

    kind: Literal["format"]
    column: str
    pattern: str | None = None
    standard: Literal["uscc", "resident_id"] | None = None

    @model_validator(mode="after")
    def _one(self) -> FormatRule:
        if (self.pattern is None) == (self.standard is None):
            raise ValueError("give exactly one of pattern (a regular expression) or standard (uscc | resident_id)")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
            if len(self.pattern) > 1000:
                raise ValueError("pattern is longer than 1000 characters")
        return self

    def default_name(self) -> str:
        return f"format_{self.standard or 'pattern'}_{self.column}"


class ReferenceRule(_Rule):
    """Referential integrity: every non-null value exists in ``ref_column`` of ``ref_asset``."""

    kind: Literal["reference"]
    column: str
    ref_asset: str
    ref_column: str


RuleSpec = Annotated[UniqueRule | NotNullRule | FluctuationRule | InSetRule | FormatRule | ReferenceRule,
                     Field(discriminator="kind")]
KINDS = ("unique", "not_null", "fluctuation", "in_set", "format", "reference")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(RuleSpec)


def parse_rule(data: dict[str, Any]) -> Any:
    """A validated rule, or :class:`ValidationFailed` listing every defect."""
    if not isinstance(data, dict):
        raise ValidationFailed(f"a rule must be a JSON object with a 'kind' ({', '.join(KINDS)})")
    if data.get("kind") not in KINDS:
        raise ValidationFailed(f"rule kind {data.get('kind')!r} is unknown; use one of {', '.join(KINDS)}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'rule'}: {e['msg']}"
                             for e in exc.errors())
        raise ValidationFailed(f"invalid {data['kind']} rule: {problems}") from None


def dump_rule(rule: Any) -> dict[str, Any]:
    return rule.model_dump(mode="json", by_alias=True, exclude_none=True)
