"""The documents say what the code does: the generated ones are what docs/generate.py writes now, and the numbers the
prose quotes (how many predictors, which figures and ops) are the registries'."""

import re
import runpy
from pathlib import Path

from flopbench.reading.plots import FIGURES
from flopbench.reading.predict import PREDICTORS
from flopbench.workloads import OPS

ROOT = Path(__file__).resolve().parent.parent
GENERATE = runpy.run_path(str(ROOT / "docs" / "generate.py"))
WORDS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def test_the_op_and_figure_lists_are_the_registries():
    guide = ROOT / "docs" / "guide.md"
    assert GENERATE["block"](guide, "ops") == GENERATE["ops_block"]()
    assert GENERATE["block"](guide, "figures") == GENERATE["figures_block"]()
    ops = GENERATE["block"](guide, "ops")
    assert all(f"`{name}`" in ops for name in OPS)
    assert all(f"`{spec.name}`" in GENERATE["block"](guide, "figures") for spec in FIGURES)


def test_the_quickstart_is_the_current_commands_output():
    """Measured, so never compared exactly: its commands are the quickstart's, and what they printed has the tables
    this version prints (a stale block, from before a change of the tables, fails)."""
    readme = (ROOT / "README.md").read_text()
    assert readme.index("## Quickstart") < len("\n".join(readme.splitlines()[:60]))  # on the first screen
    text = GENERATE["block"](ROOT / "README.md", "quickstart")
    for args in GENERATE["QUICKSTART"]:
        assert f"$ flopbench {' '.join(args)}" in text
    assert "time: the median of the rounds' medians" in text and "% peak" in text  # the run's summary as it is now
    assert all(len(line) <= 80 for line in text.splitlines() if line.startswith(("│", "┃", "┏", "└")))
    assert (ROOT / "docs" / "quickstart-roofline.png").stat().st_size > 10_000


def test_prose_counts_what_the_code_has():
    methodology = (ROOT / "docs" / "methodology.md").read_text()
    count = WORDS[len(PREDICTORS)]
    assert (
        f"{count.capitalize()} ways to predict" in methodology and f'"{count.capitalize()} predictors"' in methodology
    )
    for name in PREDICTORS:
        assert f"`{name}`" in methodology, name
    for path in (ROOT / "docs").glob("*.md"):
        text = path.read_text()
        for word in set(WORDS.values()) - {count}:
            assert not re.search(rf"\b{word} predictors\b", text, re.I), (path.name, word)
