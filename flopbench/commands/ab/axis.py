"""What an A/B run varies: its axis and the two values, checked."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from flopbench.errors import FlopbenchError, did_you_mean

AXES = ("impl", "dtype", "threads", "cache", "tf32")
# In one process: rounds of ABBA blocks every workload gets (a round is one build, the unit that repeats: five give
# its interval four degrees of freedom), then more for the rows not yet precise enough for the gate, up to
# DEFAULT_MAX_ROUNDS each, until DEFAULT_MAX_TIME_S has passed (flopbench.commands.ab.precision).
DEFAULT_ROUNDS = 5
DEFAULT_PROCESS_PAIRS = 4  # two Pythons: processes per side, alternating ABBA, before more are added
DEFAULT_MAX_ROUNDS = 20
DEFAULT_MAX_TIME_S = 600.0


@dataclass(frozen=True)
class Axis:
    """What varies between the sides, and its two values (the same value twice: an A/A run, to see the noise)."""

    name: str  # impl, dtype, threads, cache, tf32 or python
    values: tuple[str, str]

    @property
    def same(self) -> bool:
        return self.values[0] == self.values[1]


def axis_of(args: argparse.Namespace) -> Axis:
    """The one axis the options name, its two values checked."""
    if args.threads is not None and "," not in args.threads:  # one count: a setting of both sides, not the axis
        args.threads = _thread_count(args.threads, args.threads)
    given = [name for name in AXES if getattr(args, name) is not None and not isinstance(getattr(args, name), int)]
    given += ["python"] if args.python else []
    if len(given) != 1:
        what = "none" if not given else " and ".join(f"--{g}" for g in given)
        raise FlopbenchError(
            f"flopbench ab compares two sides along one axis; {what} given: give one of --impl A,B, --dtype A,B,"
            " --threads A,B, --cache A,B, --tf32 A,B, or --python twice"
        )
    name = given[0]
    if name == "python":
        if len(args.python) != 2:
            raise FlopbenchError(f"--python: give it twice (side A, then side B), not {len(args.python)} time(s)")
        return Axis("python", (args.python[0], args.python[1]))
    text = getattr(args, name)
    values = tuple(v.strip() for v in text.split(","))
    if len(values) != 2 or not all(values):
        raise FlopbenchError(f"--{name} {text}: expected two values, A,B (e.g. --{name} {EXAMPLES[name]})")
    _check_values(name, values, text)
    if name == "threads":
        args.threads = None  # each side's machine has its own
    return Axis(name, (values[0], values[1]))


def _thread_count(value: str, text: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 4096:
        raise FlopbenchError(f"--threads {text}: '{value}' is not a thread count (a whole number from 1 to 4096)")
    return int(value)


EXAMPLES = {
    "impl": "eager,compile",
    "dtype": "float32,bfloat16",
    "threads": "1,2",
    "cache": "warm,cold",
    "tf32": "off,on",
}


def _check_values(name: str, values: tuple[str, ...], text: str) -> None:
    known: tuple[str, ...] = ()
    if name == "impl":
        from flopbench.workloads.impls import IMPLS

        known = tuple(IMPLS)
    elif name == "dtype":
        from flopbench.workloads import DTYPES

        known = tuple(DTYPES)
    elif name in ("cache", "tf32"):
        known = ("warm", "cold") if name == "cache" else ("off", "on")
    for value in values:
        if name == "threads":
            _thread_count(value, text)
        elif value not in known:
            raise FlopbenchError(
                f"--{name} {text}: unknown value '{value}'{did_you_mean(value, known)}; expected two of"
                f" {', '.join(known)}"
            )
