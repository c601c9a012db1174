import os
import subprocess

# The terminal the tests were started from never reaches what they read: a user's `make test` at an 80-column terminal
# exports COLUMNS (and may force colour), which every CLI the tests run in this process or in a child would inherit,
# and a table's folding with it. Tests about the terminal set these themselves (tests/test_terminal.py,
# tests/test_output.py). Done at import, before any test module builds an environment from os.environ.
TERMINAL_VARIABLES = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")
TERMINAL_VARIABLES += ("TTY_INTERACTIVE",)
for _name in TERMINAL_VARIABLES:
    os.environ.pop(_name, None)

import matplotlib  # noqa: E402 (after the environment is pinned)
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from flopbench.workloads import OPS  # noqa: E402

matplotlib.use("Agg")  # tests draw figures without a screen

pytest_plugins = ["pytester"]  # real pytest sessions, for the pytest-benchmark plugin


@pytest.fixture(autouse=True, scope="session")
def own_ceilings_cache(tmp_path_factory):
    """The tests share one ceilings cache of their own, never the user's ~/.cache/flopbench: a busy entry left there
    by a real run added a warning line to commands that must print one line (and a test could overwrite it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("ceilings-cache")))
        yield


@pytest.fixture
def in_process(tmp_path):
    """flopbench's main() in this process (tests.helpers.cli), in the test's own directory and ceilings cache."""
    from tests.helpers import cli

    env = {**os.environ, "FLOPBENCH_CACHE_DIR": str(tmp_path / "cache")}

    def call(*args: str) -> subprocess.CompletedProcess:
        return cli(*args, cwd=tmp_path, env=env)

    return call


# Reproducible property tests in CI: the same generated shapes on every run.
settings.register_profile("flopbench", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "flopbench"))

# Every op's small instance (Op.example: small enough to build and run on a CPU in milliseconds), but the
# collectives', which need ranks.
EXAMPLES = {name: op.example for name, op in OPS.items() if not op.collective}
