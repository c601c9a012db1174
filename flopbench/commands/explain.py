"""flopbench explain: where a workload's FLOP/s went, step by step from the peak to the measured time (its loss ledger,
flopbench.measuring.ledger); without a workload, every workload's factors in one table."""

from __future__ import annotations

import argparse
from pathlib import Path

from flopbench.commands.common import add_format_argument
from flopbench.errors import FlopbenchError, did_you_mean

NAME = "explain"
HELP = "where the FLOP/s went: each workload's ledger from the peak to its measured time"
DESCRIPTION = (
    "Every placed record carries a loss ledger: a chain of ideal times from the peak, each adding one constraint (the"
    " clock the device ran at, the best kernel measured here, the roof of the memory level its data lives in, the"
    " per-call floor, the op's parallel work on the device's units), ending at the measured time; each factor is what"
    " that constraint costs, and they multiply to achieved / peak. Give a workload's name for its steps in full."
)
IMPORTS = ("numpy", "pandas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, metavar="RESULTS", help="a results file")
    parser.add_argument("workload", nargs="?", metavar="WORKLOAD", help="a workload's name (default: every workload)")
    add_format_argument(parser)


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import load_views
    from flopbench.console import print_table, print_text
    from flopbench.reading.losses import STEP_NAMES, in_words, ledger_rows, share

    (view,) = load_views([args.results])
    if args.workload is None:
        table = ledger_rows(view)
        if table.empty:
            raise FlopbenchError(f"{args.results}: no record has a ledger (files before this flopbench have none)")
        print_table(
            f"Where the FLOP/s went: {args.results.name}",
            ["workload", "% peak", *STEP_NAMES, "largest loss"],
            [
                [
                    r["name"],
                    f"{r['utilization']:.1%}",
                    *(_factor(r[name]) for name in STEP_NAMES),
                    r["largest_loss"] or "-",
                ]
                for _, r in table.iterrows()
            ],
            numeric=["% peak", *STEP_NAMES],
            caption="Each factor is the ideal time before that constraint over the time with it (under 1: a loss; -:"
            " unknown here, see flopbench explain RESULTS WORKLOAD); they multiply to % peak.",
            fmt=args.format,
            wrap=["workload"],
            optional=["clock", "overhead", "kernel", "% peak"],
        )
        return 0
    matches = [r for r in view.records if r.name == args.workload]
    if not matches:
        names = [r.name for r in view.records]
        raise FlopbenchError(
            f"{args.workload}: no such workload in {args.results}{did_you_mean(args.workload, names)};"
            f" flopbench explain {args.results} lists them"
        )
    record = matches[0]
    if not record.ledger:
        raise FlopbenchError(f"{record.name}: no ledger ({record.ledger_note or 'not placed on the roofline'})")
    from flopbench.units import seconds

    print_table(
        f"{record.name} ({record.dtype}): "
        + (f"{record.utilization:.1%} of its {record.peak_key} peak" if record.total_flops else share(record)),
        ["step", "factor", "ideal time", "source", "what it rests on"],
        [[s.name, _factor(s.factor), seconds(s.ideal_s), s.source, s.detail] for s in record.ledger],
        numeric=["factor", "ideal time"],
        fmt=args.format,
        wrap=["what it rests on"],
    )
    print_text(in_words(record), args.format)
    return 0


def _factor(value) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"
