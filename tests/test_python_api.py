"""docs/python-api.md runs: every Python example in it, in order, in one namespace, in a directory whose results/
holds the committed reference runs."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_python_api_examples_run(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert len(blocks) >= 6
    (tmp_path / "results").symlink_to(ROOT / "results")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    namespace: dict = {}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/python-api.md example {number}", "exec"), namespace)
    assert (tmp_path / "roofline.png").stat().st_size > 10_000 and os.path.exists("flops_vs_latency.png")


def test_a_library_user_gets_a_reader_s_notes_as_warnings_pointing_at_their_own_call(tmp_path):
    """load_results warns of a skipped line at the caller's line, not inside flopbench. (Here, not beside the other
    files tests: a mutation tester's trampolines add frames to every call, so no stack level holds under it.)"""
    import warnings

    from flopbench.results.files import ResultsWriter, load_results
    from tests.helpers import header, record

    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    writer.record(record("a"))
    writer.close()
    path.write_text(path.read_text().replace("\n", "\ngarbage\n", 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_results(path)
    assert [str(w.message) for w in caught] == [
        f"{path}:2: not JSON (Expecting value: line 1 column 1 (char 0)); skipped"
    ]
    assert caught[0].filename == __file__ and caught[0].category is UserWarning


def test_the_package_lists_its_lazy_names_for_completion():
    import flopbench

    assert {"measure", "load_results", "__version__"} <= set(dir(flopbench))
