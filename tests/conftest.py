import os
import subprocess

import matplotlib
import pytest
from hypothesis import settings

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

# One small valid parameter set per op: small enough to build and run on a CPU in milliseconds.
EXAMPLES = {
    "matmul": dict(m=33, n=17, k=40, batch=2),
    "linear": dict(tokens=9, in_features=24, out_features=12),
    "mlp": dict(batch=4, layers=[20, 16, 8], activations=["gelu", "softmax"]),
    "conv1d": dict(batch=2, in_channels=4, out_channels=6, length=30, kernel=5, stride=2, dilation=2, groups=2),
    "conv2d": dict(batch=2, in_channels=3, out_channels=8, height=14, width=12, kernel=[3, 5], padding=1),
    "conv3d": dict(batch=1, in_channels=2, out_channels=4, depth=5, height=6, width=7, kernel=3, padding="same"),
    "depthwise_conv2d": dict(batch=2, channels=8, height=15, width=15, kernel=3, stride=2, padding=1),
    "pointwise_conv2d": dict(batch=2, in_channels=8, out_channels=12, height=9, width=9),
    "separable_conv2d": dict(batch=1, in_channels=8, out_channels=16, height=12, width=12, kernel=3, padding=1),
    "conv_transpose2d": dict(
        batch=1,
        in_channels=4,
        out_channels=6,
        height=7,
        width=7,
        kernel=3,
        stride=2,
        padding=1,
        output_padding=1,
        groups=2,
    ),
    "attention": dict(batch=2, heads=4, kv_heads=2, seq_len=20, kv_seq_len=24, head_dim=16, causal=True),
    "mha": dict(batch=2, seq_len=12, d_model=32, heads=4),
    "ffn": dict(batch=2, seq_len=6, d_model=16, gated=True),
    "transformer_layer": dict(batch=1, seq_len=10, d_model=32, heads=4, causal=True),
    "elementwise": dict(kind="triad", numel=5000),
    "softmax": dict(rows=8, cols=100),
    "layernorm": dict(rows=8, cols=100),
    "model": dict(model="keras_mlp", batch=2),
    "conv_transpose1d": dict(batch=2, in_channels=4, out_channels=6, length=9, kernel=4, stride=3, padding=1, groups=2),
    "conv_transpose3d": dict(
        batch=1, in_channels=2, out_channels=4, depth=3, height=4, width=5, kernel=[2, 3, 3], stride=2, output_padding=1
    ),
    "rmsnorm": dict(rows=8, cols=100),
    "batchnorm": dict(batch=2, channels=6, height=5, width=7),
    "groupnorm": dict(batch=2, channels=12, groups=3, height=5, width=4),
    "pool2d": dict(kind="max", batch=2, channels=3, height=11, width=9, kernel=3, stride=2, padding=1),
    "embedding": dict(tokens=40, vocab=50, dim=16),
    "lstm": dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2, bidirectional=True),
    "gru": dict(batch=2, seq_len=4, input_size=5, hidden_size=7),
    "rnn": dict(batch=3, seq_len=4, input_size=5, hidden_size=6, bias=False),
    "ln_gelu_residual": dict(rows=6, cols=40),
    "linear_bias_gelu": dict(tokens=5, in_features=12, out_features=7),
    "attention_by_hand": dict(batch=1, heads=2, seq_len=12, head_dim=8),
}
