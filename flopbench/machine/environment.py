"""The software and host a run happens on, collected once as a flat dict of simple values."""

from __future__ import annotations

import platform
import re
import socket
import sys
from typing import Any


def _blas(config: str) -> str | None:
    info = re.search(r"BLAS_INFO=(\w+)", config)
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", config)
    if info and info.group(1) == "mkl" and mkl:
        return f"MKL {mkl.group(1)}"
    return info.group(1) if info else None


def environment() -> dict[str, Any]:
    import torch

    config = torch.__config__.show()
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v([\d.]+)", config)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "blas": _blas(config),
        "onednn": onednn.group(1) if onednn else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
    }
