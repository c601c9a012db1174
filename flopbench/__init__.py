"""flopbench: achieved FLOP/s of deep-learning workloads whose FLOPs are known exactly."""

__version__ = "0.1.0"
