"""`python -m flopbench`: Ctrl-C is held from this first line until start-up is over (cli.interrupts_deferred).
Not when it was started with Ctrl-C ignored (`flopbench run ... &` in a script): it stays ignored."""

import signal

pending: list[int] = []
holding = signal.getsignal(signal.SIGINT) is signal.default_int_handler
if holding:
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))

from flopbench.cli import main  # noqa: E402 (after the handler: an interrupt during cli's imports is held too)

raise SystemExit(main(held=pending if holding else None))
