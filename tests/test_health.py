"""Code health that a test can hold: no import cycle anywhere in the package (imports inside functions included;
only `if TYPE_CHECKING:` blocks are exempt, since they never run)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "flopbench"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, modules: set[str]) -> set[str]:
    """The flopbench modules `path` imports, wherever it imports them (not under TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports(path, modules) - {name} for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_the_package_has_no_import_cycle():
    edges = graph()
    assert (
        "flopbench.results.files" in edges and "flopbench.results.interop" in edges["flopbench.results.files"]
    )  # the walker sees imports
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_python_m_flopbench_holds_ctrl_c_before_it_imports_anything():
    """`python -m flopbench` runs flopbench/__init__.py, then __main__.py: the first imports nothing (a Ctrl-C inside
    its old `typing` import was a traceback), the second sets the holding handler before it imports the CLI."""
    init = ast.parse((PACKAGE / "__init__.py").read_text())
    top_imports = [n for n in init.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in top_imports)
    main = ast.parse((PACKAGE / "__main__.py").read_text()).body
    first_flopbench = next(
        i for i, n in enumerate(main) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("flopbench")
    )
    handler = next(i for i, n in enumerate(main) if "signal.signal(signal.SIGINT" in ast.unparse(n))
    assert handler < first_flopbench
