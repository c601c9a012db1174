"""Output that fits where it goes.

- On a terminal, rich tables fit its width. Into a pipe or a file there is no width: tables are drawn at their natural
  width, so no cell is ever cut (rich would otherwise assume 80 columns).
- Every command that prints a table takes `--format table|markdown|json|csv`: markdown and csv print the cells as
  the table shows them; json is each command's own structured output, with raw numbers.
- Colour follows rich, which honours NO_COLOR (and FORCE_COLOR); `flopbench --quiet` silences progress and
  information lines on stderr (warnings and errors are always printed).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

TABLE_FORMATS = ("table", "markdown", "json", "csv")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """flopbench --quiet: progress and information lines are not printed."""
    global _quiet
    _quiet = quiet


def quiet() -> bool:
    return _quiet


def info(text: str) -> None:
    """A progress or information line on stderr, unless --quiet."""
    if not _quiet:
        print(text, file=sys.stderr, flush=True)


def warn(text: str) -> None:
    """A warning on stderr: always printed, --quiet or not."""
    print(f"flopbench: warning: {text}", file=sys.stderr, flush=True)


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 100_000, highlight=False, soft_wrap=False)


def print_text(text: str, fmt: str = "table") -> None:
    """A line beside the tables (a device, a note): rich markup on a terminal, a paragraph in markdown, nothing in
    csv or json (their output is the data alone)."""
    if fmt == "table":
        console().print(text)
    elif fmt == "markdown":
        from rich.text import Text

        print(Text.from_markup(text).plain + "\n")


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric: Sequence[str] = (),
    caption: str | None = None,
    fmt: str = "table",
    styles: dict[str, str] | None = None,
) -> None:
    """One table in `fmt` (table, markdown or csv; json output is each command's own). Cells are plain text (never
    rich markup); `styles` colours whole columns on a terminal (warnings in yellow), which NO_COLOR turns off."""
    cells = [[str(cell) for cell in row] for row in rows]
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(cells)
        return
    if fmt == "markdown":

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"**{cell(title)}**", ""] if title else []
        lines.append("| " + " | ".join(cell(c) for c in columns) + " |")
        lines.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in cells]
        if caption:
            lines += ["", caption]
        print("\n".join(lines) + "\n")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for name in columns:
        table.add_column(
            name, justify="right" if name in numeric else "left", no_wrap=True, style=(styles or {}).get(name)
        )
    for row in cells:
        table.add_row(*(escape(cell) for cell in row))
    console().print(table)
