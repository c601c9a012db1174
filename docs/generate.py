"""Write the documents generated from the code, so that they cannot go stale: docs/results.md and the shipped JSON
Schema (flopbench/results/results.schema.json) from the results schema, with the implementations a record's `impl`
names. tests/test_results.py fails when a committed document differs from what this writes.

    python docs/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> None:
    (ROOT / "docs" / "results.md").write_text(results_markdown())
    (ROOT / "flopbench" / "results" / "results.schema.json").write_text(results_json_schema())


if __name__ == "__main__":
    main()
