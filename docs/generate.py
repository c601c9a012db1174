"""Write the documents generated from the code and from real runs, so that they cannot go stale:

- docs/results.md and the shipped JSON Schema (flopbench/results/results.schema.json), from the results schema, with
  the implementations a record's `impl` names;
- the op and figure lists in docs/guide.md, from the registries;
- README.md's quickstart: its commands run on this machine at 80 columns, and the roofline of that run
  (docs/quickstart-roofline.png). This one measures (a few minutes); the others are instant;
- the committed reference runs' reports (results/reference/<run>/), rendered again by this version.

tests/test_docs.py fails when a committed document differs from what this writes (the measured quickstart: when it is
not the current commands' output).

    python docs/generate.py            # everything
    python docs/generate.py results lists references
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = (
    ["count", "matmul", "m=4096", "n=4096", "k=4096"],
    ["run", "quick", "--report"],
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def results_markdown() -> str:
    from flopbench.results.docs import markdown
    from flopbench.workloads.impls import IMPLS

    appendix = [
        "## Implementations",
        "",
        "What a record's `impl` names (flopbench/workloads/impls.py); its op declares which it runs under.",
        "",
        "| impl | what it is | devices |",
        "|---|---|---|",
        *(f"| `{impl.name}` | {impl.doc} | {', '.join(impl.devices) or 'any'} |" for impl in IMPLS.values()),
        "",
    ]
    return markdown(appendix)


def results_json_schema() -> str:
    from flopbench.results.docs import json_schema

    return json.dumps(json_schema(), indent=1) + "\n"


def ops_block() -> str:
    """Every registered op by family, with its keys (what `flopbench count OP key=value` takes)."""
    from flopbench.workloads import OPS, families

    lines = ["| family | op | keys |", "|---|---|---|"]
    for family in families():
        for name, op in OPS.items():
            if op.family == family:
                lines.append(f"| {family} | `{name}` | {', '.join(op.keys)} |")
    return "\n".join(lines)


def figures_block() -> str:
    """Every figure `flopbench plot` and the report draw, with its caption."""
    from flopbench.reading.plots import COMPARISON_FIGURES, FIGURES

    lines = ["| figure | what it shows |", "|---|---|"]
    lines += [f"| `{spec.name}` | {spec.caption} |" for spec in FIGURES]
    lines += [f"| `{spec.name}` (compare) | {spec.caption} |" for spec in COMPARISON_FIGURES]
    return "\n".join(lines)


def quickstart() -> str:
    """The quickstart's commands run here, in a fresh directory, as an 80-column terminal shows them."""
    from flopbench import __version__

    where = Path(tempfile.mkdtemp(prefix="flopbench-quickstart-"))
    env = {**os.environ, "COLUMNS": "80"}
    blocks = []
    device = ""
    for args in QUICKSTART:
        done = subprocess.run(
            [sys.executable, "-m", "flopbench", *args], cwd=where, env=env, capture_output=True, text=True, check=True
        )
        out = ANSI.sub("", done.stdout).rstrip()
        said = [line for line in done.stderr.splitlines() if line.startswith(("Report:", "flopbench: warning"))]
        blocks.append("\n".join(["```text", f"$ flopbench {' '.join(args)}", out, *said, "```"]))
        device = device or next((line for line in out.splitlines() if line.startswith("cpu (") or "cuda:" in line), "")
    report = next((where / "results").glob("*/roofline.png"))
    shutil.copyfile(report, ROOT / "docs" / "quickstart-roofline.png")
    machine = device.split(":")[0] or "this machine"
    head = f"Measured on {machine} with flopbench {__version__} (`python docs/generate.py quickstart`):"
    return "\n\n".join([head, *blocks])


def fill(path: Path, name: str, text: str) -> None:
    """Put `text` between the file's <!-- generated: name --> and <!-- /generated --> markers."""
    content = path.read_text()
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- /generated -->)", re.S)
    if not pattern.search(content):
        raise SystemExit(f"{path}: no <!-- generated: {name} --> block")
    path.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip() + "\n" + m.group(2), content))


def block(path: Path, name: str) -> str:
    """What stands in a file's generated block (for the tests)."""
    match = re.search(rf"<!-- generated: {name} -->\n(.*?)<!-- /generated -->", path.read_text(), re.S)
    return match.group(1).rstrip() if match else ""


def references() -> None:
    """Every committed reference run's report, rendered again into its own folder (asked for: by default a report is
    written under ./results, never into results/reference/). An empty cache stands in for this machine's: a committed
    report must not depend on what one machine has learned (its A/A drift history widens the standing's intervals)."""
    from flopbench.machine.cache import empty_cache
    from flopbench.reading.report import write_report

    with empty_cache():
        for path in sorted((ROOT / "results" / "reference").glob("*.jsonl")):
            write_report([path], path.with_suffix(""))


def main(steps: list[str]) -> None:
    steps = steps or ["results", "lists", "references", "quickstart"]
    if "results" in steps:
        (ROOT / "docs" / "results.md").write_text(results_markdown())
        (ROOT / "flopbench" / "results" / "results.schema.json").write_text(results_json_schema())
    if "lists" in steps:
        fill(ROOT / "docs" / "guide.md", "ops", ops_block())
        fill(ROOT / "docs" / "guide.md", "figures", figures_block())
    if "references" in steps:
        references()
    if "quickstart" in steps:
        fill(ROOT / "README.md", "quickstart", quickstart())


if __name__ == "__main__":
    main(sys.argv[1:])
