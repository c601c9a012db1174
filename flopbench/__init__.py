"""flopbench: achieved FLOP/s of deep-learning workloads whose FLOPs are known exactly."""

from __future__ import annotations

# No imports here: `python -m flopbench` runs this before flopbench/__main__.py can hold Ctrl-C (see
# cli.interrupts_deferred), and an interrupt inside `typing`'s import was a traceback. The version lives on the ground
# floor (flopbench/version.py), where the packages below this one read it.

__all__ = ["__version__", "ab", "load_results", "measure"]


def __getattr__(name: str) -> object:
    """`flopbench.__version__`, `flopbench.load_results`, `flopbench.measure` and `flopbench.ab`, imported when first
    used: `import flopbench` stays instant (and torch-free)."""
    if name == "__version__":
        from flopbench.version import __version__

        return __version__
    if name == "load_results":
        from flopbench.results.files import load_results

        return load_results
    if name == "measure":
        from flopbench.measuring.api import measure

        return measure
    if name == "ab":
        from flopbench.commands.ab.functions import ab

        return ab
    raise AttributeError(f"module 'flopbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What a notebook's completion offers: the lazy names too."""
    return sorted([*globals(), *__all__])
