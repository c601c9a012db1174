"""The `flopbench` command: the parser, and the one place where user errors become exit status 2."""

from __future__ import annotations

import argparse
import os
import sys

from flopbench import __version__
from flopbench.errors import FlopbenchError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from flopbench.commands import COMMANDS

    parser = _Parser(prog="flopbench", description="Exact FLOPs, achieved FLOP/s and roofline placement"
                                                   " of deep-learning workloads.")
    parser.add_argument("--version", action="version", version=f"flopbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(sub)
        sub.set_defaults(func=command.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FlopbenchError as exc:
        print(f"flopbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flopbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (flopbench ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
