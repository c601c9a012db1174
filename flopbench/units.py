"""Human-readable numbers: decimal SI prefixes, as FLOP and byte counts are quoted."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_PREFIXES = ["", "k", "M", "G", "T", "P", "E"]  # SI: k for kilo, as the figures' axes write it


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """`si(1.81e9, "FLOP")` -> '1.81 GFLOP'; three significant digits by default, SI prefixes (k, M, G, ...)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return f"0 {unit}".rstrip()
    exponent = min(max(int(math.floor(math.log10(abs(value)) / 3)), 0), len(_PREFIXES) - 1)
    scaled = value / 1000**exponent
    text = f"{scaled:.{digits}g}"
    if "e" in text:  # e.g. 1e+03 after rounding up: show it plainly
        text = f"{scaled:.0f}"
    return f"{text} {_PREFIXES[exponent]}{unit}".rstrip()


def seconds(value: float | None) -> str:
    """A duration with the unit that keeps three significant digits: 12.3 µs, 4.56 ms, 1.2 s (as the figures' axes)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if abs(value) >= scale or unit == "ns":
            return f"{value / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def count(n: int, noun: str) -> str:
    """`count(1, "thread")` -> '1 thread', `count(2, "thread")` -> '2 threads'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def percent(fraction: float) -> str:
    """A share with the digits that keep it apart from a 5% or 10% threshold: '5.3%', '0.8%', '12%'."""
    return f"{fraction:.1%}" if abs(fraction) < 0.1 else f"{fraction:.0%}"


_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")  # a number, not a name's digits (m256, float16)


def merged(texts: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Texts that differ only in their numbers, said once: each group's text with every number that varies written
    as its range ('its 3 rounds span 6 to 45% of the median'), and the indices of its texts, in first-seen order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, text in enumerate(texts):
        groups.setdefault(tuple(_NUMBER.split(text)), []).append(index)
    found = []
    for parts, indices in groups.items():
        numbers = [_NUMBER.findall(texts[i]) for i in indices]
        out = [parts[0]]
        for position, part in enumerate(parts[1:]):
            values = [row[position] for row in numbers]
            low, high = min(values, key=float), max(values, key=float)
            out += [low if low == high else f"{low} to {high}", part]
        found.append(("".join(out), indices))
    return found


def natural_key(text: str) -> list[Any]:
    """A sort key that orders the numbers inside names by value: m128 before m1024, l512 before l2048."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
