"""The declarative task a requester signs and every provider reviews: sources and computation.

Computations are a closed list (no code travels): what each provider reads is exactly the
columns named here, and what is computed is exactly ``Computation.kind`` with its public
parameters (groups, buckets, weights, entities).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal[
    "sum",
    "count",
    "mean",
    "variance",
    "weighted_sum",
    "histogram",
    "linear_score",
    "psi_cardinality",
    "psi_membership",
    "psi_sum",
]
VALUE_KINDS = {"sum", "mean", "variance", "psi_sum"}
PSI_KINDS = {"psi_cardinality", "psi_membership", "psi_sum"}


class Source(BaseModel):
    """One provider's contribution: a catalog asset and the roles of the columns read from it."""

    model_config = ConfigDict(extra="forbid")

    party: str
    asset: str
    value: str | None = None
    group: str | None = None
    key: str | None = None
    features: dict[str, str] = Field(default_factory=dict)
    where: str | None = None

    def columns(self) -> list[str]:
        cols = [c for c in (self.key, self.group, self.value) if c]
        cols += [c for c in self.features.values() if c not in cols]
        return cols


class Computation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    dtype: Literal["real", "int"] = "real"
    groups: list[str] | None = None
    buckets: list[float] | None = None
    weights: dict[str, float] | None = None
    intercept: float = 0.0
    entities: list[str] | None = None
    unit: float = 1.0


class TaskSpec(BaseModel):
    """What the requester asks for. Providers see this exact object when they review."""

    model_config = ConfigDict(extra="forbid")

    title: str
    purpose: str = ""
    sources: list[Source]
    computation: Computation
    compute: str = "compute"
    monitor: str = "monitor"

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        c, kind = self.computation, self.computation.kind
        parties = [s.party for s in self.sources]
        problems: list[str] = []
        if len(set(parties)) != len(parties):
            problems.append("each provider may appear once in sources")
        if kind in PSI_KINDS:
            if len(self.sources) != 2:
                problems.append("private set intersection runs between exactly two providers")
            if any(not s.key for s in self.sources):
                problems.append("PSI needs a key column at both providers")
            if kind == "psi_sum" and not self.sources[-1].value:
                problems.append("psi_sum sums the second provider's value column: name it")
            if kind == "psi_membership" and not c.entities:
                problems.append("psi_membership needs the public candidate list 'entities'")
        elif len(self.sources) < 2:
            problems.append("a joint computation needs at least two providers")
        if kind in VALUE_KINDS - PSI_KINDS or kind == "histogram":
            problems += [f"{s.party}: name the value column" for s in self.sources if not s.value]
        if kind in ("weighted_sum", "linear_score"):
            if not c.weights:
                problems.append(f"{kind} needs public weights per feature")
            else:
                for s in self.sources:
                    unknown = set(s.features) - set(c.weights)
                    if unknown:
                        problems.append(f"{s.party}: features {sorted(unknown)} have no weight")
                if kind == "weighted_sum":
                    problems += [
                        f"{s.party}: supply every weighted feature"
                        for s in self.sources
                        if set(s.features) != set(c.weights)
                    ]
        if kind == "linear_score":
            if not c.entities:
                problems.append("linear_score needs the public entity list 'entities'")
            problems += [f"{s.party}: name the key column" for s in self.sources if not s.key]
        if kind == "histogram" and (not c.buckets or len(c.buckets) < 2 or c.buckets != sorted(c.buckets)):
            problems.append("histogram needs at least two increasing bucket edges")
        if any(s.group for s in self.sources):
            if not c.groups:
                problems.append("grouped computations need the public list of group keys 'groups'")
            if kind in ("linear_score", *PSI_KINDS):
                problems.append(f"{kind} cannot be grouped")
            problems += [f"{s.party}: name the group column" for s in self.sources if not s.group]
        if c.dtype == "int" and kind in ("weighted_sum", "linear_score") and c.weights:
            if any(float(w) != int(w) for w in c.weights.values()) or float(c.intercept) != int(c.intercept):
                problems.append("integer (BFV) computations need integer weights and intercept")
        if c.unit <= 0:
            problems.append("unit must be positive")
        if problems:
            from govfabric.errors import ValidationFailed

            raise ValidationFailed("the MPC task is not valid", problems)
        return self

    @property
    def group_keys(self) -> list[str]:
        return list(self.computation.groups or ["*"])

    @property
    def grouped(self) -> bool:
        return any(s.group for s in self.sources)

    def source(self, party: str) -> Source:
        for s in self.sources:
            if s.party == party:
                return s
        raise KeyError(party)
