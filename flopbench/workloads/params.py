"""The parameter kinds of an op's schema: each validates and normalizes what a suite file or the command line gives
(ints, per-dimension lists, choices), and every problem is a SpecError naming the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flopbench.errors import SpecError, did_you_mean


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Param:
    """One key of an op. `default=None` means "derived from other keys" (see the op's doc)."""

    name: str
    default: Any = REQUIRED
    doc: str = ""
    short: str = ""  # used in generated workload names

    def parse(self, value: Any) -> Any:
        raise NotImplementedError

    @property
    def allowed(self) -> str:
        raise NotImplementedError

    def fail(self, value: Any) -> SpecError:
        return SpecError(self.name, f"expected {self.allowed}, got {value!r} ({_type_name(value)})")

    def label(self, value: Any) -> str:
        """The value as it appears in a generated name."""
        return f"{self.short or self.name}{value}"


def _as_int(value: Any) -> int | None:
    """An int from an int or a whole float (TOML and the CLI write 1e6 as a float); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True)
class Int(Param):
    minimum: int = 1

    @property
    def allowed(self) -> str:
        return f"an integer >= {self.minimum}"

    def parse(self, value: Any) -> int:
        number = _as_int(value)
        if number is None or number < self.minimum:
            raise self.fail(value)
        return number


@dataclass(frozen=True)
class Bool(Param):
    allowed = "true or false"

    def parse(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value

    def label(self, value: bool) -> str:
        return (self.short or self.name) if value else f"no{self.short or self.name}"


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[str, ...] = ()

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(value)
        if value not in self.choices:
            raise SpecError(
                self.name, f"unknown value {value!r}{did_you_mean(value, self.choices)}; expected {self.allowed}"
            )
        return value

    def label(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Dims(Param):
    """A per-spatial-dimension key: one int for every dimension, or a list with one int per dimension."""

    ndim: int = 2
    minimum: int = 1

    @property
    def allowed(self) -> str:
        return (
            f"an integer >= {self.minimum} or a list of {self.ndim} such integers"
            if self.ndim > 1
            else f"an integer >= {self.minimum}"
        )

    def parse(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, (list, tuple)):
            numbers = [_as_int(v) for v in value]
            if len(value) != self.ndim or any(n is None or n < self.minimum for n in numbers):
                raise self.fail(value)
            return tuple(numbers)  # type: ignore[arg-type]
        number = _as_int(value)
        if number is None or number < self.minimum:
            raise self.fail(value)
        return (number,) * self.ndim

    def label(self, value: tuple[int, ...]) -> str:
        text = str(value[0]) if len(set(value)) == 1 else "x".join(map(str, value))
        return f"{self.short or self.name}{text}"


@dataclass(frozen=True)
class Padding(Dims):
    minimum: int = 0

    @property
    def allowed(self) -> str:
        return f'{super().allowed}, or "same" or "valid"'

    def parse(self, value: Any) -> tuple[int, ...] | str:  # type: ignore[override]  # a Dims, or "same"/"valid"
        if isinstance(value, str):
            if value not in ("same", "valid"):
                raise SpecError(
                    self.name,
                    f"unknown value {value!r}{did_you_mean(value, ['same', 'valid'])}; expected {self.allowed}",
                )
            return value
        return super().parse(value)

    def label(self, value: tuple[int, ...] | str) -> str:
        return f"{self.short or self.name}{value}" if isinstance(value, str) else super().label(value)


@dataclass(frozen=True)
class IntList(Param):
    min_length: int = 1

    @property
    def allowed(self) -> str:
        return f"a list of at least {self.min_length} integers >= 1"

    def parse(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length:
            raise self.fail(value)
        numbers = [_as_int(v) for v in value]
        if any(n is None or n < 1 for n in numbers):
            raise self.fail(value)
        return tuple(numbers)  # type: ignore[arg-type]

    def label(self, value: tuple[int, ...]) -> str:
        return "x".join(map(str, value))


@dataclass(frozen=True)
class ChoiceList(Param):
    choices: tuple[str, ...] = ()

    @property
    def allowed(self) -> str:
        return "a list of " + ", ".join(self.choices)

    def parse(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(value)
        for v in value:
            if v not in self.choices:
                raise SpecError(
                    self.name, f"unknown value {v!r}{did_you_mean(v, self.choices)}; expected {self.allowed}"
                )
        return tuple(value)

    def label(self, value: tuple[str, ...]) -> str:
        return "+".join(value)
