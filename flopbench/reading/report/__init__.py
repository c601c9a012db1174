"""The report: device and peaks with provenance, a table per family, the figures, and the FLOPs-versus-
latency study, for each run given (run), and the runs compared (compare). One document model (document), written as
Markdown (figures beside it) and as a self-contained HTML file (figures embedded); `write_report` is the one place
that writes figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flopbench.errors import FlopbenchError
from flopbench.reading.report.compare import compare_blocks, standing_blocks
from flopbench.reading.report.document import Figure, to_html, to_markdown
from flopbench.reading.report.run import run_blocks, trust
from flopbench.reading.view import load_views

__all__ = ["compare_blocks", "run_blocks", "standing_blocks", "trust", "write_report"]


def write_report(
    paths: list[Path], out: Path, fmt: str = "png", on_note: Callable[[str], None] = lambda note: None
) -> tuple[Path, Path]:
    """report.md (figures beside it) and report.html (self-contained) for every run in `paths`. What the readers
    repaired or skipped goes to on_note (and into the report)."""
    from flopbench.outputs import output_dir, write_text
    from flopbench.reading.plots import save

    views = [view for view in load_views(paths, on_note) if view.records]
    if not views:
        raise FlopbenchError(f"{', '.join(map(str, paths))}: no records to report; run a suite first")
    blocks = [(view, [*run_blocks(view), *standing_blocks(view)]) for view in views]
    if len({view.header.run_id for view in views}) > 1:
        blocks.append((views[0], compare_blocks(views)))
    output_dir(out, "--out")
    for view, run in blocks:  # the report's one place that writes figures: each once, beside the Markdown
        prefix = f"{view.path.stem}_" if len(paths) > 1 else ""
        figures = [b for b in run if isinstance(b, Figure)]
        written = save([b.drawn for b in figures], out, fmt, prefix)
        for block in figures:
            block.path = written[block.drawn.name]
    everything = [b for _, run in blocks for b in run]
    md, page = out / "report.md", out / "report.html"
    write_text(md, to_markdown(everything, out))
    write_text(page, to_html(everything, f"flopbench report: {', '.join(p.name for p in paths)}"))
    return md, page
