"""The pytest fixture `flopbench_ab`: flopbench.ab in a test, so that a test can assert that B is not slower than A by
5% (the paired gate's exit 0), with the verdict and both records to look at when it is not. Registered as a pytest
plugin (pyproject.toml's pytest11 entry points), beside flopbench.measuring.pytest_plugin's `flops_benchmark`.

    def test_my_kernel_is_not_slower(flopbench_ab):
        result = flopbench_ab(old_kernel, new_kernel, x, flops=2 * n**3, fail_slower=0.05)
        assert result.not_slower, result.text()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def flopbench_ab() -> Callable[..., Any]:
    """flopbench.ab: the paired comparison of two functions of the same work (flopbench.commands.ab.functions.ab)."""
    from flopbench.commands.ab.functions import ab

    return ab
