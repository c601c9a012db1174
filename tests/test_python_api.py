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
