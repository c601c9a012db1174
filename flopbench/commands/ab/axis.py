"""What an A/B run varies: its axis, as a kind. Each kind owns its option, how its two values are checked, and what a
side's value changes: the workloads it runs (an implementation, a dtype), its settings (caches, TF32), its machine (a
thread count: another roofline) and what switches to it before each block of calls. A new axis is one class here,
added to AXES; `flopbench ab` declares its option and `flopbench.commands.ab.inprocess` drives it without a switch."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from flopbench.errors import FlopbenchError, did_you_mean

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.workloads import Workload

# In one process: rounds of ABBA blocks every workload gets (a round is one build, the unit that repeats: five give
# its interval four degrees of freedom), then more for the rows not yet precise enough for the gate, up to
# DEFAULT_MAX_ROUNDS each, until DEFAULT_MAX_TIME_S has passed (flopbench.commands.ab.precision).
DEFAULT_ROUNDS = 5
DEFAULT_PROCESS_PAIRS = 4  # two Pythons: processes per side, alternating ABBA, before more are added
DEFAULT_MAX_ROUNDS = 20
DEFAULT_MAX_TIME_S = 600.0


def _nothing() -> None:
    return None


class Axis:
    """What varies between the sides, and its two values (the same value twice: an A/A run, to see the noise).

    A kind says: its `name` (the option --NAME A,B), the option's `help` and an `example`, the values it knows
    (`known`, or its own `check`), and for a side's value: `workload` (the workload as that side runs it, or None when
    it cannot), `settings` (what it changes in the run's settings), `threads` (a thread count of its own: that side
    resolves its own machine) and `enter` (what switches to the side before each block of its calls)."""

    name: ClassVar[str]
    help: ClassVar[str]
    example: ClassVar[str]
    in_process: ClassVar[bool] = True  # False: whole processes alternate (flopbench.commands.ab.processes)
    note: ClassVar[str] = ""  # what the run's opening line adds about this axis

    def __init__(self, values: tuple[str, str]) -> None:
        self.values = values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.values!r})"

    @property
    def same(self) -> bool:
        return self.values[0] == self.values[1]

    # --- the option -------------------------------------------------------------------------------------------------
    @classmethod
    def add_option(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(f"--{cls.name}", metavar="A,B", help=cls.help)

    @classmethod
    def dest(cls) -> str:
        """The option's attribute in argparse's namespace."""
        return cls.name.replace("-", "_")

    @classmethod
    def given(cls, args: argparse.Namespace) -> bool:
        return getattr(args, cls.dest(), None) is not None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Axis:
        text = getattr(args, cls.dest())
        values = tuple(v.strip() for v in text.split(","))
        if len(values) != 2 or not all(values):
            raise FlopbenchError(f"--{cls.name} {text}: expected two values, A,B (e.g. --{cls.name} {cls.example})")
        for value in values:
            cls.check(value, text)
        return cls((values[0], values[1]))

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def check(cls, value: str, text: str) -> None:
        known = cls.known()
        if value not in known:
            raise FlopbenchError(
                f"--{cls.name} {text}: unknown value '{value}'{did_you_mean(value, known)}; expected two of"
                f" {', '.join(known)}"
            )

    def slug(self) -> str:
        """The two values as the default directory's name says them."""
        return "-vs-".join(self.values)

    # --- what a side's value changes --------------------------------------------------------------------------------
    def workload(self, workload: Workload, value: str) -> Workload | None:
        return workload

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        return {}

    def threads(self, value: str) -> int | None:
        return None

    def enter(self, machine: Machine, value: str) -> Callable[[], None]:
        return _nothing


class Impl(Axis):
    name = "impl"
    help = "two implementations, e.g. eager,compile"
    example = "eager,compile"
    note = "; both sides time the call as its users write it, a function that returns its output"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        from flopbench.workloads.impls import IMPLS

        return tuple(IMPLS)

    def workload(self, workload: Workload, value: str) -> Workload | None:
        """Two implementations are compared on the call their users write: a function that returns its output, on
        both sides (a compiled function does; eager's call into a preallocated output would favour it)."""
        from flopbench.workloads.selection import with_impls

        made = with_impls([workload], [value], value)
        return dataclasses.replace(made[0], returning=True) if made else None

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        return {"impl": value}


class Dtype(Axis):
    name = "dtype"
    help = "two dtypes of each shape, e.g. float32,bfloat16"
    example = "float32,bfloat16"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        from flopbench.workloads import DTYPES

        return tuple(DTYPES)

    def workload(self, workload: Workload, value: str) -> Workload | None:
        from flopbench.workloads.selection import with_dtypes

        made = with_dtypes([workload], [value], value)
        return made[0] if made else None

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        return {"dtype": value}


def thread_count(value: str, text: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 4096:
        raise FlopbenchError(f"--threads {text}: '{value}' is not a thread count (a whole number from 1 to 4096)")
    return int(value)


class Threads(Axis):
    name = "threads"
    help = "two torch thread counts, e.g. 1,2 (one count: both sides' threads)"
    example = "1,2"

    @classmethod
    def given(cls, args: argparse.Namespace) -> bool:
        """Two counts; one count is a setting of both sides (it stays in args.threads), not the axis."""
        if isinstance(args.threads, str) and "," not in args.threads:
            args.threads = thread_count(args.threads, args.threads)
        return isinstance(args.threads, str)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Axis:
        axis = super().from_args(args)
        args.threads = None  # each side's machine has its own
        return axis

    @classmethod
    def check(cls, value: str, text: str) -> None:
        thread_count(value, text)

    def threads(self, value: str) -> int | None:
        return int(value)

    def enter(self, machine: Machine, value: str) -> Callable[[], None]:
        import torch

        return lambda: torch.set_num_threads(machine.threads)


class Cache(Axis):
    name = "cache"
    help = "warm and cold caches: warm,cold"
    example = "warm,cold"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return ("warm", "cold")

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        return {"cache": value}


class Tf32(Axis):
    name = "tf32"
    help = "TF32 off and on for float32 on CUDA: off,on"
    example = "off,on"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return ("off", "on")

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        if device_type != "cuda":
            raise FlopbenchError("--tf32 off,on: TF32 is a CUDA setting; this run is on the CPU")
        return {"tf32": value == "on"}

    def enter(self, machine: Machine, value: str) -> Callable[[], None]:
        import torch

        def switch() -> None:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = value == "on"

        return switch


class MatmulPrecision(Axis):
    name = "matmul-precision"
    help = (
        "two float32 matmul precisions (torch.set_float32_matmul_precision), e.g. highest,medium: medium lets"
        " float32 matmuls run in bfloat16 where the CPU or GPU has it, high in TF32 on CUDA"
    )
    example = "highest,medium"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return ("highest", "high", "medium")

    def settings(self, value: str, device_type: str) -> dict[str, Any]:
        return {"matmul_precision": value}

    def enter(self, machine: Machine, value: str) -> Callable[[], None]:
        import torch

        return lambda: torch.set_float32_matmul_precision(value)


class Python(Axis):
    name = "python"
    help = (
        "give twice: two Python interpreters (two environments: torch versions, builds), each with flopbench"
        " installed; whole processes alternate ABBA"
    )
    example = "--python A --python B"
    in_process = False

    @classmethod
    def add_option(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(f"--{cls.name}", action="append", metavar="PY", help=cls.help)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Axis:
        if len(args.python) != 2:
            raise FlopbenchError(f"--python: give it twice (side A, then side B), not {len(args.python)} time(s)")
        return cls((args.python[0], args.python[1]))

    def slug(self) -> str:
        """An interpreter by its environment's directory (.../ENV/bin/python), else as given."""
        from pathlib import Path

        return "-vs-".join(Path(v).parent.parent.name or v for v in self.values)


AXES: dict[str, type[Axis]] = {kind.name: kind for kind in (Impl, Dtype, Threads, Cache, Tf32, MatmulPrecision, Python)}


def add_axis_options(parser: argparse.ArgumentParser) -> None:
    sides = parser.add_argument_group("the two sides (exactly one; the same value twice measures the noise: A/A)")
    for kind in AXES.values():
        kind.add_option(sides)


def axis_of(args: argparse.Namespace) -> Axis:
    """The one axis the options name, its two values checked."""
    given = [kind for kind in AXES.values() if kind.given(args)]
    if len(given) != 1:
        what = "none" if not given else " and ".join(f"--{kind.name}" for kind in given)
        choices = ", ".join(
            f"--{kind.name} A,B" if kind.in_process else f"--{kind.name} twice" for kind in AXES.values()
        )
        raise FlopbenchError(f"flopbench ab compares two sides along one axis; {what} given: give one of {choices}")
    return given[0].from_args(args)
