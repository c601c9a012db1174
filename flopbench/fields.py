"""Documented fields: every value a results file holds carries its unit and meaning (flopbench.results.schema), a
peak carries its provenance, and a record is built from typed parts. Kept apart from the schema so that the machine
(flopbench.machine: the device, the roofline and its placements, which the schema's lines hold) can use them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from flopbench.units import si

# The units a field may have; "" is a label or a structure, "1" a dimensionless ratio.
UNITS = ("", "1", "s", "1/s", "FLOP", "MAC", "B", "FLOP/B", "FLOP/s", "B/s", "J", "W", "FLOP/J", "J/B", "Hz", "CPU")


def F(unit: str, doc: str, default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802 (reads like a declaration)
    """A documented field: its unit (one of UNITS) and what it means. Required unless a default is given."""
    assert unit in UNITS, unit
    if "default_factory" in kwargs:
        return Field(description=doc, json_schema_extra={"unit": unit}, **kwargs)
    return Field(default, description=doc, json_schema_extra={"unit": unit}, **kwargs)


def D(unit: str, doc: str, **kwargs: Any) -> Any:  # noqa: N802
    """The same, for a dataclass field's Annotated[...] (where the default is the dataclass's own)."""
    assert unit in UNITS, unit
    return Field(description=doc, json_schema_extra={"unit": unit}, **kwargs)


@dataclass(frozen=True)
class Peak:
    """A peak FLOP/s (or OP/s, or bytes/s) with its provenance."""

    value: Annotated[
        float | None, D("FLOP/s", "FLOP/s (OP/s for int8) or, for bandwidth, B/s; null when unknown", gt=0)
    ]
    source: Annotated[str, D("", "user, spec, derived, measured or unknown")]
    detail: Annotated[str, D("", "where exactly it comes from, in words")]

    @property
    def known(self) -> bool:
        return self.value is not None

    def describe(self, unit: str = "FLOP/s") -> str:
        return f"{si(self.value, unit)} ({self.source}: {self.detail})" if self.known else f"unknown ({self.detail})"


class Part(BaseModel):
    """A typed piece of a record, built by the one step that owns it (the runner's steps, the roofline's placement, an
    op's figures). Unknown fields are an error here: a misspelt key fails where it is made, never lands in a file."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
