"""The shape of the code, checked: packages whose imports point down and never circle, no borrowed private names, one
home for the roofline, short functions everywhere, records built only from typed parts, figures that always carry a
caption."""

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.measuring.summary import timing_part
from flopbench.results.schema import CollectiveFigures, OutcomePart, Part, Record
from flopbench.workloads import OPS, make_workload
from tests.conftest import EXAMPLES
from tests.helpers import device, measured

PACKAGE = Path(__file__).resolve().parent.parent / "flopbench"


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _mentions_bandwidth(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else ""
        if "bandwidth" in name.lower():
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "bandwidth" in sub.value:
            return True
    return False


def test_only_the_roofline_divides_by_a_bandwidth():
    """Which roof applies and max(FLOPs / peak, bytes / bandwidth) live in flopbench/roofline.py alone: a module that
    divides by a bandwidth is placing a workload (or a roof) on its own."""
    found = []
    for path in _modules():
        if path.name == "roofline.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _mentions_bandwidth(node.right):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == [], f"divisions by a bandwidth outside roofline.py: {found}"


def test_the_check_sees_a_division_by_a_bandwidth():
    tree = ast.parse("t = traffic / level.bandwidth_bytes_per_s\nu = flops / peak")
    divisions = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    assert [_mentions_bandwidth(d.right) for d in divisions] == [True, False]


# --- the house: packages whose imports point down ------------------------------------------------------------------

# Each package's floor: a module may import its own package and the floors below, never above. The base modules
# (errors, units, console, fields, outputs, formulas, version) import only each other; the measuring and reading
# halves share a floor and never import each other (reading reads results files; it never measures).
BASE = {"errors", "units", "console", "fields", "outputs", "formulas", "version"}
FLOORS = {"base": 0, "machine": 1, "results": 2, "workloads": 3, "measuring": 4, "reading": 4, "commands": 5, "top": 6}
MAX_TOP_MODULES = 10


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    """The package a module belongs to: machine, results, ..., base for the base modules, top for the rest."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    return "base" if len(parts) == 2 and parts[1] in BASE else "top"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every flopbench import in a file: at the top, inside functions, under TYPE_CHECKING."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flopbench"):
            for alias in node.names:  # `from package import module` imports the module; else names of the module
                where = PACKAGE.parent / Path(*node.module.split("."), alias.name)
                if where.with_suffix(".py").exists() or where.is_dir():
                    found.append((node.lineno, f"{node.module}.{alias.name}", []))
                else:
                    found.append((node.lineno, node.module, [alias.name]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("flopbench")]
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        module = _module_name(path)
        graph[module] = {target for _, target, _ in _imports(path) if target != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of the import graph closes, as the modules around it."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state and target in graph:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycles():
    """No module reaches itself through the imports of others (type-only imports counted too): each room can be read
    and tested from its floor down."""
    assert _cycles(_graph()) == []


def test_the_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_point_down():
    """Every import goes to the importer's own package or a floor below it: the measuring and reading halves share
    one floor and never import each other."""
    wrong = []
    for path in _modules():
        module = _module_name(path)
        room = _room(module)
        for line, target, _ in _imports(path):
            there = _room(target)
            if there == room or target == "flopbench":
                continue
            if FLOORS[there] >= FLOORS[room]:
                wrong.append(f"{module}:{line} ({room}) imports {target} ({there})")
    assert wrong == []


def test_reading_never_imports_measuring():
    found = [
        f"{_module_name(path)}:{line} imports {target}"
        for path in (PACKAGE / "reading").rglob("*.py")
        for line, target, _ in _imports(path)
        if _room(target) == "measuring"
    ]
    assert found == []


def test_no_module_imports_another_modules_private_name():
    found = [
        f"{_module_name(path)}:{line} imports {target}.{name}"
        for path in _modules()
        for line, target, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != _module_name(path)
    ]
    assert found == []


def test_at_most_ten_modules_stand_directly_in_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


LONG = 80


def test_no_function_is_over_80_lines():
    """Each part small enough to read at once, everywhere in the package; argparse declarations (add_arguments)
    aside."""
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name != "add_arguments"
        and node.end_lineno - node.lineno + 1 > LONG
    ]
    assert long == []


# --- records from typed parts ---------------------------------------------------------------------------------------


def test_every_part_is_a_record_base():
    """A record is its parts: each field of each part is a record field, declared once (in the part)."""
    parts = [cls for cls in Part.__subclasses__() if cls.__name__ != "_RecordLine"]
    parts += [sub for cls in parts for sub in cls.__subclasses__() if sub is not Record]
    assert {cls.__name__ for cls in parts} >= {"WorkloadPart", "TimingPart", "Placement", "CollectiveFigures"}
    for cls in parts:
        assert issubclass(Record, cls), cls.__name__


@pytest.mark.parametrize("op", sorted(set(OPS) - {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}))
def test_every_ops_figures_build_a_record(op):
    """Each op's own parts (before timing, and from a measured time) go into a record through the one builder."""
    workload = make_workload(op, EXAMPLES[op])
    derived = records.derive(workload.counts, workload.dtype, 1e-3, Roofline.build(device()), op=workload.spec)
    record = records.build(
        records.workload_part(workload),
        records.counts_part(workload.counts),
        workload.spec.record_fields(workload.p, workload.dtype),
        timing_part(measured(1e-3)),
        *derived.parts,
        outcome=OutcomePart(status="ok"),
    )
    assert record.name == workload.name and record.time_s == 1e-3 and record.model_extra == {}


def test_a_collectives_figures_build_a_record():
    workload = make_workload("all_reduce", {"numel": 1024})
    derived = records.derive(
        workload.counts, workload.dtype, 1e-3, Roofline.build(device()), op=workload.spec, world_size=2
    )
    assert {type(p).__name__ for p in derived.parts} == {"RatesPart", "CollectiveFigures"}


def test_a_misspelt_field_fails_where_it_is_made_never_in_a_file():
    with pytest.raises(ValidationError, match="busbw_byte_per_s"):
        CollectiveFigures(busbw_byte_per_s=1.0)  # an op's figures with a misspelt key

    class Misspelt(Part):  # a part the record does not have as a base
        bus_bandwith: float = 1.0

    with pytest.raises(ValueError, match="record fields unknown to the schema: bus_bandwith"):
        Record.build(records.workload_part(make_workload("matmul", EXAMPLES["matmul"])), Misspelt(bus_bandwith=2.0))


def test_the_read_path_keeps_unknown_fields():
    fields = {
        "name": "a",
        "op": "matmul",
        "family": "matmul",
        "dtype": "float32",
        "identity": "a",
        "core_flops": 2,
        "macs": 1,
        "elementwise_flops": 0,
        "total_flops": 2,
        "bytes": 12,
        "status": "skipped",
        "from_a_newer_flopbench": 7,
    }
    assert Record.model_validate(fields).model_extra == {"from_a_newer_flopbench": 7}


# --- figures ---------------------------------------------------------------------------------------------------------


def test_every_figure_has_a_caption():
    from flopbench.reading.plots import FIGURES

    assert FIGURES and all(spec.caption.strip() and spec.caption.endswith(".") for spec in FIGURES)
    assert len({spec.name for spec in FIGURES}) == len(FIGURES)


def test_a_drawn_figure_carries_its_caption(tmp_path):
    from flopbench.reading.plots import draw_figures
    from flopbench.reading.view import load_view
    from tests.fakes import fake_device, write_run

    drawn = draw_figures(load_view(write_run(tmp_path / "a.jsonl", fake_device())))
    assert [d.name for d in drawn] == ["roofline", "flops_vs_latency", "sweeps", "utilization", "predictors"]
    assert all(d.caption for d in drawn)


# --- one measuring session (issue 49) ---------------------------------------------------------------------------------

MEASURING_INSIDES = {
    f"flopbench.measuring.{m}" for m in ("runner", "policy", "probes", "energy", "admission", "timing")
}


def test_commands_drive_the_session_and_never_the_measuring_insides():
    """A command translates its options and drives flopbench.measuring.session; it builds no Runner, Measurer or
    probe, and imports none of the modules that would let it (the runner, the policy, the probes, the energy meter,
    admission, the timers). `flopbench ab` takes nothing from `flopbench run`'s package."""
    found = []
    for path in sorted((PACKAGE / "commands").rglob("*.py")):
        module = _module_name(path)
        for line, imported, names in _imports(path):
            targets = {imported, *(f"{imported}.{name}" for name in names)}
            if targets & MEASURING_INSIDES:
                found.append(f"{module}:{line} imports {imported}")
            if module.startswith("flopbench.commands.ab") and imported.startswith("flopbench.commands.run"):
                found.append(f"{module}:{line} imports {imported}")
    assert found == []
    builders = [
        f"{path.relative_to(PACKAGE)}:{n.lineno}"
        for path in _modules()
        if path.name not in ("runner.py", "session.py")
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("Runner", "Measurer")
    ]
    assert builders == []
