"""Terminal output: rich tables that do not wrap or truncate when piped to a file."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # On a terminal, tables fit its width. A file or pipe has no width: rich would assume 80 columns and cut cells,
    # so it gets room for any line, and every table is drawn at its natural width, nothing truncated.
    return Console(file=stream, width=None if stream.isatty() else 100_000, highlight=False, soft_wrap=False)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Sequence[str] = (),
    caption: str | None = None,
) -> None:
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console().print(table)
