"""The report's document model (headings, paragraphs, tables, figures) and its two renderings: Markdown with the
figures beside it, and one self-contained HTML page with the figures embedded."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flopbench.reading.plots import Drawn


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[Any]]


@dataclass
class Figure:
    """A figure in the report: drawn, not yet written (the writer saves it once, beside the Markdown)."""

    drawn: Drawn
    path: Path | None = None  # where the writer saved it


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list, out: Path, figures: bool = True) -> str:
    """The report as Markdown, its figures linked beside it (figures=False: the text alone, nothing drawn or saved)."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(map(_md_cell, b.header)) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in b.rows]
            lines.append("")
        elif isinstance(b, Figure) and figures:
            assert b.path is not None, "figures are saved before the report is rendered (write_report)"
            caption = b.drawn.caption
            lines += [f"![{caption}]({b.path.relative_to(out)})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """The little Markdown the report uses inline: **bold** and `code`."""
    escaped = html.escape(text)
    for marker, tag in (("**", "strong"), ("`", "code")):
        parts = escaped.split(marker)
        escaped = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return escaped


def to_html(blocks: list, title: str) -> str:
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Figure):
            assert b.path is not None, "figures are saved before the report is rendered (write_report)"
            kind = "svg+xml" if b.path.suffix == ".svg" else "png"
            data = base64.b64encode(b.path.read_bytes()).decode()
            caption = html.escape(b.drawn.caption)
            body.append(
                f'<figure><img src="data:image/{kind};base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:.85em}th,td{border:1px solid #ccc;"
        "padding:.25em .5em;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "figcaption{font-style:italic;color:#555}code{background:#f3f3f3;padding:0 .2em}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
