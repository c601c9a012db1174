"""Output that fits where it goes.

- On a terminal, rich tables fit its width. Into a pipe or a file there is no width: tables are drawn at their natural
  width, so no cell is ever cut (rich would otherwise assume 80 columns).
- Every command that prints a table takes `--format table|markdown|json|csv`: markdown and csv print the cells as
  the table shows them; json is each command's own structured output, with raw numbers.
- Colour follows rich, which honours NO_COLOR (and FORCE_COLOR); `flopbench --quiet` silences progress and
  information lines on stderr (warnings and errors are always printed).
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

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
    """A progress or information line on stderr, unless --quiet (after what stdout holds, so the two stay in order)."""
    if not _quiet:
        sys.stdout.flush()
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Nothing written to file descriptor 2 inside the block reaches the terminal: what C++ libraries print there
    themselves (Kineto's 'profiler_start/stop' lines around a torch.profiler session)."""
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def warn(text: str) -> None:
    """A warning on stderr: always printed, --quiet or not (after what stdout holds, so the two stay in order)."""
    sys.stdout.flush()
    print(f"flopbench: warning: {text}", file=sys.stderr, flush=True)


def width(stream: Any) -> int | None:
    """The columns a table may take on `stream`: the terminal's (None: rich asks it), an exported COLUMNS in a pipe,
    else none to speak of (a file or a pipe keeps every cell whole)."""
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 100_000


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=width(stream), highlight=False, soft_wrap=False)


def print_text(text: str, fmt: str = "table") -> None:
    """A line beside the tables (a device, a note): rich markup on a terminal, a paragraph in markdown, nothing in
    csv or json (their output is the data alone)."""
    if fmt == "table":
        console().print(text)
    elif fmt == "markdown":
        from rich.text import Text

        print(Text.from_markup(text).plain + "\n")


Cell = object  # a cell: anything str() shows; in the notes column, a list of notes


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Sequence[str] = (),
    caption: str | None = None,
    fmt: str = "table",
    styles: dict[str, str] | None = None,
    notes: str | None = None,
    wrap: Sequence[str] = (),
    optional: Sequence[str] = (),
    merge_notes: bool = False,
) -> None:
    """One table in `fmt` (table, markdown or csv; json output is each command's own). Cells are plain text (never
    rich markup); `styles` colours whole columns on a terminal (warnings in yellow), which NO_COLOR turns off.

    On a terminal a number is never cut: every column keeps its widest cell, but the `wrap` columns (names), which
    fold. The `notes` column (long text: a row's warnings, a peak's detail; a cell may be a list of notes) moves under
    the table as numbered notes, each said once however many rows share it (with `merge_notes`, notes that differ only
    in their numbers are one, the numbers as ranges: a run's warnings). Where the terminal is still too narrow,
    the `optional` columns are left out, in their order, and the table says which."""
    cells = [[_cell(cell) for cell in row] for row in rows]
    if fmt in ("csv", "markdown"):
        _print_flat(title, columns, cells, numeric, caption, fmt)
        return
    columns, cells, footnotes = _footnotes(list(columns), cells, notes, merge_notes)
    keep = [i for i, name in enumerate(columns) if any(row[i] for row in cells) or not cells]  # no empty column
    columns, cells = [columns[i] for i in keep], [[row[i] for i in keep] for row in cells]
    out = console()
    columns, cells, left_out, wrap = _fit(columns, cells, wrap, optional, numeric, out.width)
    from rich.markup import escape
    from rich.table import Table

    if title:  # above the table, as wide as the terminal (a table's own title wraps at the table's width)
        out.print(escape(title), style="italic")
    table = Table()
    widths = _fold_widths(columns, cells, wrap, out.width)
    for index, name in enumerate(columns):
        folds = name in wrap
        widest = max([len(name), *(_width(row[index]) for row in cells)])
        if name in widths:  # folded here, at the names' own separators, never mid-token where a separator will do
            cells = [[*row[:index], fold(row[index], widths[name]), *row[index + 1 :]] for row in cells]
        table.add_column(
            name,
            justify="right" if name in numeric else "left",
            no_wrap=not folds,
            overflow="fold" if folds else "ellipsis",
            min_width=widths.get(name, min(widest, WRAP_MIN)) if folds else widest,
            max_width=widths.get(name),
            style=(styles or {}).get(name),
        )
    for row in cells:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    for number, text in enumerate(footnotes, 1):
        out.print(escape(f"[{number}] {text}"), style=(styles or {}).get(notes or ""))
    said = [caption] if caption else []
    if left_out:
        said.append(
            f"Left out at this width: {', '.join(left_out)} (a wider terminal or --format markdown shows them)."
        )
    if said:
        out.print(escape(" ".join(said)), style="dim italic")


WRAP_MIN = 12  # the narrowest a folding column (a name) gets
SEPARATORS = "-_/ :=+"  # where a folded name may break: after one of these (never inside a number: no . or ,)


def fold(text: str, width: int) -> str:
    """`text` in lines of at most `width`: broken at spaces first; a word longer than a line after one of its own
    separators (SEPARATORS: a workload name's '-'), and cut only where none is in reach. Existing line breaks stay."""
    import re

    if width <= 0:
        return text
    marks = re.escape(SEPARATORS.replace(" ", ""))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            pieces = [word] if len(word) <= width else re.findall(rf"[^{marks}]+[{marks}]*|[{marks}]+", word)
            for index, piece in enumerate(pieces):
                gap = " " if line and index == 0 else ""
                if line and len(line) + len(gap) + len(piece) > width:
                    lines.append(line)
                    line, gap = "", ""
                while len(piece) > width:
                    lines.append(piece[:width])
                    piece = piece[width:]
                line += gap + piece
        lines.append(line)
    return "\n".join(lines)


def _fold_widths(columns: list[str], cells: list[list[str]], wrap: Sequence[str], available: int) -> dict[str, int]:
    """The width of each folding column where the table does not fit whole: what the other columns leave, shared among
    the folding ones by their widest cells, never under WRAP_MIN (or their widest) nor over their widest."""
    widest = {name: max([len(name), *(_width(row[i]) for row in cells)]) for i, name in enumerate(columns)}
    folding = [name for name in columns if name in wrap]
    fixed = sum(widest[name] for name in columns if name not in folding) + 3 * len(columns) + 1
    spare = available - fixed
    if not folding or spare >= sum(widest[name] for name in folding):
        return {}
    total = sum(widest[name] for name in folding)
    least = {name: min(widest[name], WRAP_MIN) for name in folding}
    found = {name: max(least[name], min(widest[name], spare * widest[name] // total)) for name in folding}
    for name in sorted(folding, key=lambda n: found[n] - least[n], reverse=True):  # the floors took more than
        excess = sum(found.values()) - spare  # their share: the widest give it back, down to their own floor
        if excess <= 0:
            break
        found[name] -= min(excess, found[name] - least[name])
    return found


def _width(text: str) -> int:
    """The columns a cell takes: its longest line (a cell may hold several)."""
    return max(map(len, text.split("\n")))


def _cell(cell: Cell) -> Any:
    return [str(c) for c in cell] if isinstance(cell, list | tuple) else str(cell)


def _text(cell: Any) -> str:
    return "; ".join(cell) if isinstance(cell, list) else cell


def _print_flat(
    title: str | None,
    columns: Sequence[str],
    cells: list[list[Any]],
    numeric: Sequence[str],
    caption: str | None,
    fmt: str,
) -> None:
    rows = [[_text(cell) for cell in row] for row in cells]
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return

    def md(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"**{md(title)}**", ""] if title else []
    lines.append("| " + " | ".join(md(c) for c in columns) + " |")
    lines.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    if caption:
        lines += ["", caption]
    print("\n".join(lines) + "\n")


def _footnotes(
    columns: list[str], cells: list[list[Any]], notes: str | None, merge: bool = False
) -> tuple[list[str], list[list[str]], list[str]]:
    """The notes column as numbers pointing under the table: (columns, cells as text, the notes in order), each note
    once with the count of rows it stands for; with `merge`, notes that differ only in their numbers are one."""
    from flopbench.units import merged

    if notes is None or notes not in columns:
        return columns, [[_text(cell) for cell in row] for row in cells], []
    index = columns.index(notes)
    said = [
        [t for t in (row[index] if isinstance(row[index], list) else [row[index]]) if t and t != "-"] for row in cells
    ]
    flat_texts = [text for texts in said for text in texts]
    owner = [r for r, texts in enumerate(said) for _ in texts]
    footnotes, refs = [], [[] for _ in cells]  # type: ignore[var-annotated]
    groups = merged(flat_texts) if merge else _exact(flat_texts)
    for number, (text, members) in enumerate(groups, 1):
        rows = sorted({owner[m] for m in members})
        footnotes.append(text + (f" ({len(rows)} rows)" if len(rows) > 1 else ""))
        for r in rows:
            refs[r].append(number)
    flat = [
        [*(_text(cell) for cell in row[:index]), ",".join(map(str, refs[r])), *map(_text, row[index + 1 :])]
        for r, row in enumerate(cells)
    ]
    return [*columns[:index], "note", *columns[index + 1 :]], flat, footnotes


def _exact(texts: list[str]) -> list[tuple[str, list[int]]]:
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        groups.setdefault(text, []).append(index)
    return list(groups.items())


def _fit(
    columns: list[str],
    cells: list[list[str]],
    wrap: Sequence[str],
    optional: Sequence[str],
    numeric: Sequence[str],
    available: int,
) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    """Leave out the optional columns, in their order, until the table's narrowest layout fits `available` columns;
    if it still does not, every text column folds (a number never does): (columns, cells, the names left out, the
    columns that fold)."""
    left_out: list[str] = []
    folding = [name for name in columns if name in wrap]

    def needed() -> int:
        widths = []
        for index, name in enumerate(columns):
            widest = max([len(name), *(_width(row[index]) for row in cells)])
            widths.append(min(widest, WRAP_MIN) if name in folding else widest)
        return sum(widths) + 3 * len(columns) + 1  # a space either side of each cell, a rule between and around

    for name in optional:
        if needed() <= available:
            break
        if name in columns:
            index = columns.index(name)
            columns = columns[:index] + columns[index + 1 :]
            cells = [row[:index] + row[index + 1 :] for row in cells]
            left_out.append(name)
    if needed() > available:
        folding = [name for name in columns if name not in numeric]
    return columns, cells, left_out, folding
