"""The `flopbench` command: the parser, and the one place where user errors become exit status 2.

Everything happens inside main()'s handlers, imports included: Ctrl-C at any moment is exit 130 with one line, a
FlopbenchError is one line and exit 2. Only the standard library is imported before that.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@contextlib.contextmanager
def interrupts_deferred(held: list[int] | None = None) -> Iterator[None]:
    """Ctrl-C waits for the end of the block, then interrupts. A KeyboardInterrupt raised inside a compiled
    extension's import can leave the library half initialized in sys.modules (numpy then lacks attributes, and a run
    that should have stopped goes on failing in strange ways) or panic it (pydantic-core), so start-up, imports
    included, runs whole first. held: the interrupts that `python -m flopbench` held from its first line (its
    handler appends to it); after the block, Ctrl-C interrupts as Python's default does."""
    pending: list[int] = held if held is not None else []
    if held is None and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started with Ctrl-C ignored: it stays
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    if held is not None:
        previous = signal.default_int_handler
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    from flopbench.commands import COMMANDS
    from flopbench.version import __version__

    parser = _Parser(
        prog="flopbench", description="Exact FLOPs, achieved FLOP/s and roofline placement of deep-learning workloads."
    )
    parser.add_argument("--version", action="version", version=f"flopbench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(sub)
        sub.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no progress or information lines on stderr (warnings and errors are always printed)",
        )
        sub.set_defaults(func=command.main, imports=getattr(command, "IMPORTS", ()))
    return parser


def main(argv: list[str] | None = None, held: list[int] | None = None) -> int:
    """The command line. held: interrupts already held by `python -m flopbench` (see interrupts_deferred)."""
    try:
        from flopbench.errors import FlopbenchError

        try:
            with interrupts_deferred(held):  # start-up: flopbench, pydantic, and the libraries the command needs
                args = build_parser().parse_args(argv)
                for name in args.imports:
                    importlib.import_module(name)
            from flopbench.console import set_quiet

            set_quiet(args.quiet)
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
