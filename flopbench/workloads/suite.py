"""Suite files: TOML -> a validated list of workloads, sweeps expanded.

    name = "matmul"                      # optional
    description = "..."                  # optional
    [defaults]                           # optional: applied to every entry whose op takes the key
    dtype = "float32"

    [[workload]]
    op = "matmul"
    name = "square"                      # optional; generated from the parameters otherwise
    k = 1024
    impl = "compile"                     # optional: how it runs (flopbench.workloads.impls, eager by default)
    devices = ["cuda"]                   # optional: run only on these device types
    large = true                         # optional: run only with `flopbench run --large`
    [workload.sweep]                     # optional: the cartesian product of these lists
    m = [256, 512, 1024]
    n = [256, 512, 1024]
    "m=n=k" = [64, 128]                  # keys tied by "=" take the same value: one axis (square GEMMs)

Every error names the file, the entry (its number and name) and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flopbench.errors import FlopbenchError, SpecError, did_you_mean

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
from flopbench.workloads import OPS, Workload, get_op, make_workload
from flopbench.workloads.base import DEFAULT_DTYPE, sweep_suffix

DEVICE_TYPES = ("cpu", "cuda")
_TOP_KEYS = ("name", "description", "defaults", "workload")
_ENTRY_ONLY = ("op", "name", "devices", "large", "sweep")  # entry keys that are not workload parameters
MAX_SWEEP_POINTS = 10_000  # per suite entry: a sweep is counted before it is expanded, and refused past this
MAX_SUITE_WORKLOADS = 50_000


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str
    workloads: tuple[Workload, ...]
    sha256: str


def shipped_suites() -> Traversable:
    """The suites that ship inside the package (found the same way from a wheel, an sdist or a checkout)."""
    return files("flopbench").joinpath("suites")


def available_suites() -> list[str]:
    return sorted(p.name[: -len(".toml")] for p in shipped_suites().iterdir() if p.name.endswith(".toml"))


def resolve_suite(arg: str) -> tuple[Path, bytes]:
    """A path to a TOML file, or the name of a shipped suite (quick, matmul, ...): its path and bytes."""
    path = Path(arg)
    if path.is_dir():
        raise FlopbenchError(
            f"{arg}: is a directory; give a suite file (e.g. {path / 'mine.toml'}) or a shipped"
            f" suite: {', '.join(available_suites())}"
        )
    if path.is_file():
        try:
            return path, path.read_bytes()
        except OSError as exc:
            raise FlopbenchError(f"{arg}: cannot read the suite ({exc.strerror})") from None
    shipped = shipped_suites().joinpath(f"{arg}.toml")
    if not path.suffix and shipped.is_file():
        return Path(str(shipped)), shipped.read_bytes()
    names = available_suites()
    raise FlopbenchError(
        f"{arg}: no such suite file; give a path to a .toml file or one of the shipped"
        f" suites: {', '.join(names)}{did_you_mean(path.stem, [*names, *OPS])}"
    )


def load_suite(arg: str | Path) -> Suite:
    path, data = resolve_suite(str(arg))
    try:
        doc = tomllib.loads(data.decode("utf-8-sig"))  # a byte-order mark (some editors write one) is not TOML
    except UnicodeDecodeError as exc:
        raise FlopbenchError(f"{path}: not UTF-8 text (byte {exc.start}); save the suite as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlopbenchError(f"{path}: malformed TOML: {exc}") from None
    return parse_suite(doc, path, hashlib.sha256(data).hexdigest())


def parse_suite(doc: Mapping[str, Any], path: Path, sha256: str = "") -> Suite:
    for key in doc:
        if key not in _TOP_KEYS:
            raise FlopbenchError(
                f"{path}: unknown top-level key '{key}'{did_you_mean(key, _TOP_KEYS)}; allowed: {', '.join(_TOP_KEYS)}"
            )
    defaults = doc.get("defaults", {})
    entries = doc.get("workload", [])
    if not isinstance(defaults, dict):
        raise FlopbenchError(f"{path}: [defaults] must be a table of keys")
    if not isinstance(entries, list) or not entries:
        raise FlopbenchError(f"{path}: no workloads; add at least one [[workload]] table with an `op` key")

    workloads: list[Workload] = []
    used_defaults: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = f"{path}: workload {index}"
        if not isinstance(entry, dict):
            raise FlopbenchError(f"{label}: must be a table ([[workload]]), got {entry!r}")
        if isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        try:
            expanded, used = _expand(entry, defaults, index)
        except SpecError as exc:
            raise FlopbenchError(f"{label}: {exc}") from None
        used_defaults |= used
        workloads.extend(expanded)
        if len(workloads) > MAX_SUITE_WORKLOADS:
            raise FlopbenchError(
                f"{path}: more than {MAX_SUITE_WORKLOADS:,} workloads after workload {index};"
                f" split the suite into several files"
            )

    unused = sorted(set(defaults) - used_defaults)
    if unused:
        raise FlopbenchError(
            f"{path}: [defaults] key '{unused[0]}' is taken by no workload's op; remove it or check its spelling"
        )
    _check_unique(workloads, path)
    return Suite(
        path=path,
        name=str(doc.get("name", path.stem)),
        description=str(doc.get("description", "")),
        workloads=tuple(workloads),
        sha256=sha256,
    )


def _expand(entry: dict[str, Any], defaults: Mapping[str, Any], index: int) -> tuple[list[Workload], set[str]]:
    """One [[workload]] entry -> its workloads (one per sweep point); also the defaults it used."""
    if "op" not in entry:
        raise SpecError("op", f"missing; every workload needs one (known ops: {', '.join(OPS)})")
    op = get_op(entry["op"]) if isinstance(entry["op"], str) else None
    if op is None:
        raise SpecError("op", f"expected an op name (a string), got {entry['op']!r}")
    accepted = set(op.keys) | {"dtype", "impl"}

    sweep = entry.get("sweep", {})
    if not isinstance(sweep, dict):
        raise SpecError("sweep", "must be a table mapping keys to lists of values ([workload.sweep])")
    axes: list[tuple[tuple[str, ...], list[Any]]] = []  # (tied keys, values)
    swept: set[str] = set()
    for group, values in sweep.items():
        keys = tuple(k.strip() for k in group.split("="))
        for key in keys:
            if key not in accepted:
                raise SpecError(
                    f"sweep.{group}",
                    f"'{key}' is not a key of op '{op.name}'"
                    f"{did_you_mean(key, accepted)}; sweepable: {', '.join(sorted(accepted))}",
                )
            if key in entry:
                raise SpecError(key, "given both directly and in [workload.sweep]; keep one")
            if key in swept:
                raise SpecError(f"sweep.{group}", f"'{key}' is swept twice; give each key one axis")
            swept.add(key)
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep.{group}", f"expected a non-empty list of values to sweep, got {values!r}")
        axes.append((keys, values))
    points = math.prod(len(values) for _, values in axes)
    if points > MAX_SWEEP_POINTS:
        sizes = " x ".join(str(len(values)) for _, values in axes)
        raise SpecError(
            "sweep",
            f"{points:,} points ({sizes}); a suite entry may sweep at most"
            f" {MAX_SWEEP_POINTS:,}: use fewer values, or split it into several entries",
        )

    devices = entry.get("devices", [])
    if not isinstance(devices, list) or any(d not in DEVICE_TYPES for d in devices):
        raise SpecError("devices", f"expected a list of device types from {', '.join(DEVICE_TYPES)}, got {devices!r}")
    large = entry.get("large", False)
    if not isinstance(large, bool):
        raise SpecError("large", f"expected true or false, got {large!r}")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise SpecError("name", f"expected a non-empty string, got {name!r}")

    used = {k for k in defaults if k in accepted}
    base = {k: v for k, v in defaults.items() if k in accepted}
    base.update({k: v for k, v in entry.items() if k not in _ENTRY_ONLY})

    workloads = []
    for combo in itertools.product(*(values for _, values in axes)):
        point = {key: value for (keys, _), value in zip(axes, combo) for key in keys}
        raw = {**base, **point}
        dtype = raw.pop("dtype", DEFAULT_DTYPE)
        impl = raw.pop("impl", "eager")
        try:
            workload = make_workload(op.name, raw, dtype=dtype, devices=tuple(devices), impl=impl)
        except SpecError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            raise SpecError(exc.key, f"{exc.message}" + (f" (at sweep point {where})" if point else "")) from None
        if name:
            suffix = sweep_suffix(op, workload.p, point, workload.dtype, workload.impl)
            workload = replace(workload, name=f"{name}-{suffix}" if suffix else name)
        workloads.append(
            replace(
                workload,
                group=name or f"{op.name} #{index}",
                large=large,
                swept=tuple("=".join(keys) for keys, _ in axes),
            )
        )
    return workloads, used


def _check_unique(workloads: list[Workload], path: Path) -> None:
    seen: dict[str, Workload] = {}
    for w in workloads:
        if w.name in seen:
            same = " (the same workload twice)" if seen[w.name].identity == w.identity else ""
            raise FlopbenchError(f"{path}: two workloads are named '{w.name}'{same}; give one a distinct `name`")
        seen[w.name] = w


def from_targets(targets: list[str]) -> list[Suite]:
    """What a command line names: `SUITE [SUITE...]` (files or shipped names), or `OP key=value ...`, one workload,
    as a suite of its own (its hash that of the command line, so that a resumed run names the same workload)."""
    first, rest = targets[0], targets[1:]
    assignments = [t for t in rest if "=" in t]
    if first in OPS and (assignments or not shipped_suites().joinpath(f"{first}.toml").is_file()):
        if len(assignments) != len(rest):
            stray = next(t for t in rest if "=" not in t)
            raise FlopbenchError(
                f"command line: '{stray}' is not key=value; after an op name give its"
                f" keys, e.g. {first} {' '.join(assignments[:1]) or 'm=64'}"
            )
        workload = single_workload(first, rest)
        text = " ".join(targets)
        return [Suite(Path(text), workload.name, text, (workload,), hashlib.sha256(text.encode()).hexdigest())]
    is_suite = shipped_suites().joinpath(f"{first}.toml").is_file() or Path(first).is_file()
    if assignments and not is_suite:
        raise FlopbenchError(
            f"command line: unknown op '{first}'{did_you_mean(first, OPS)}; known ops: {', '.join(OPS)}"
        )
    if assignments:
        raise FlopbenchError(
            f"command line: '{assignments[0]}' follows a suite, not an op; key=value pairs"
            f" describe one workload: OP key=value ..."
        )
    return [load_suite(target) for target in targets]


def single_workload(op: str, assignments: list[str]) -> Workload:
    """A workload from the command line: `conv2d batch=1 kernel=3 padding=same` (values are TOML)."""
    raw: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise FlopbenchError(f"command line: '{item}' is not key=value; write e.g. batch=8 or kernel=[3,5]")
        raw[key.strip()] = parse_value(text.strip())
    dtype = raw.pop("dtype", DEFAULT_DTYPE)
    impl = raw.pop("impl", "eager")
    name = raw.pop("name", None)
    try:
        return make_workload(op, raw, dtype=dtype, name=name, impl=impl)
    except SpecError as exc:
        raise FlopbenchError(f"command line ({op}): {exc}") from None


def parse_value(text: str) -> Any:
    """A TOML value (8, 1e6, true, [3, 5], "same"); a bare word that is not TOML is taken as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
