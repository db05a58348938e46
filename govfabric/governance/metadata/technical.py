"""Typed technical metadata records, one pydantic model per type of the standard (§8.4.4.2b)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govfabric.errors import ValidationFailed


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None


class SchemaRecord(_Record):
    """A physical schema: database, schema name, tables."""

    database: str
    schema_name: str
    tables: list[str] = Field(default_factory=list)


class ModelRecord(_Record):
    """A data model: entities and their relations (logical or physical)."""

    level: str = Field(pattern="^(conceptual|logical|physical)$")
    entities: list[str] = Field(min_length=1)
    relations: list[str] = Field(default_factory=list)


class ProgramRecord(_Record):
    """A program (ETL job, stored procedure, script) reading and writing assets."""

    language: str
    location: str
    reads: list[str] = Field(default_factory=list)
    writes: list[str] = Field(default_factory=list)


class InterfaceRecord(_Record):
    """An interface (API) exposing data."""

    protocol: str = Field(pattern="^(http|https|grpc|soap|jdbc|file|mq)$")
    endpoint: str
    method: str | None = None
    parameters: list[str] = Field(default_factory=list)


class PackagingRecord(_Record):
    """A packaged data product (数据包): format and contents."""

    format: str
    contents: list[str] = Field(min_length=1)
    version: str | None = None


class ApplicationRecord(_Record):
    """A business application (业务系统) using the data."""

    department: str
    owner: str | None = None
    url: str | None = None


TECHNICAL_TYPES: dict[str, type[_Record]] = {
    "schema": SchemaRecord, "model": ModelRecord, "program": ProgramRecord, "interface": InterfaceRecord,
    "packaging": PackagingRecord, "application": ApplicationRecord,
}


def validate_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    model = TECHNICAL_TYPES.get(kind)
    if model is None:
        raise ValidationFailed(f"unknown technical metadata type {kind!r}; use one of {', '.join(TECHNICAL_TYPES)}")
    try:
        return model.model_validate(body).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in exc.errors())
        raise ValidationFailed(f"invalid {kind} record: {problems}") from None
