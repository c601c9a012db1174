"""flopbench: achieved FLOP/s of deep-learning workloads whose FLOPs are known exactly."""

__version__ = "0.1.0"

from flopbench.results import load_results  # noqa: E402  (the one entry point most users need)

__all__ = ["__version__", "load_results"]
